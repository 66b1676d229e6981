import { formatDuration } from '../core/duration';
import type { Lock } from '../locks/match';
import type { Bot } from './bots';
import type { BotInstance } from './instances';
import { statusOf, type JoinToken } from './tokens';

/** How bots, tokens and instances read in a terminal (`tapgate bots|tokens ...`). */

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
export const ago = (ms: number, now: number): string => (now - ms < 1000 ? 'just now' : `${formatDuration(now - ms)} ago`);
const until = (ms: number, now: number): string => (ms <= now ? `expired ${ago(ms, now)}` : `in ${formatDuration(ms - now)}`);

export type Table = [header: string[], rows: string[][]];

export function botsTable(bots: Bot[], instances: Map<string, number>): Table {
  return [['NAME', 'ROLES', 'INSTANCES', 'CREATED'], bots.map((b) => [b.name, b.roles.join(','), String(instances.get(b.name) ?? 0), iso(b.createdAt)])];
}

export function tokensTable(tokens: JoinToken[], now: number): Table {
  return [
    ['NAME', 'BOT', 'USES', 'RENEWABLE', 'EXPIRES', 'STATUS'],
    tokens.map((t) => [t.name, t.botName, `${t.uses}/${t.maxUses}`, t.renewable ? 'yes' : 'no', t.expiresAt === null ? 'never' : until(t.expiresAt, now), statusOf(t, now)]),
  ];
}

export function instancesTable(list: BotInstance[], locked: (i: BotInstance) => Lock | undefined, now: number): Table {
  return [
    ['ID', 'BOT', 'TOKEN', 'GEN', 'PENDING', 'JOINED', 'LAST SEEN', 'HOST', 'STATE'],
    list.map((i) => [
      i.id,
      i.bot,
      i.token,
      String(i.generation),
      i.pendingGeneration === null ? '-' : String(i.pendingGeneration),
      ago(i.joinedAt, now),
      ago(i.lastSeen, now),
      i.heartbeats.at(-1)?.hostname || '-',
      locked(i) ? 'locked' : i.notAfter <= now && i.pendingGeneration === null ? 'expired' : 'active',
    ]),
  ];
}

export function instanceDetails(i: BotInstance, lock: Lock | undefined, now: number): string {
  const lines = [
    `Instance:    ${i.id}`,
    `Bot:         ${i.bot}`,
    `Token:       ${i.token} (${i.renewable ? 'renewable: renews with its certificate' : 'non-renewable: renews by joining with the token'})`,
    `Joined:      ${iso(i.joinedAt)} (${ago(i.joinedAt, now)})`,
    `Generation:  ${i.generation}, certificate ${until(i.notAfter, now)}`,
    `Pending:     ${i.pendingGeneration === null ? 'none' : `generation ${i.pendingGeneration} issued, not used yet (certificate ${until(i.pendingNotAfter!, now)})`}`,
    `Last seen:   ${iso(i.lastSeen)} (${ago(i.lastSeen, now)})`,
    `Locked:      ${lock ? `yes, by ${lock.targetKind} ${lock.target}${lock.message ? `: ${lock.message}` : ''} (lock ${lock.id})` : 'no'}`,
    '',
    `Authentications (last ${i.authentications.length}):`,
    ...(i.authentications.length
      ? [...i.authentications].reverse().map((a) => `  ${iso(a.at)}  ${a.kind.padEnd(11)}  generation ${a.generation}${a.remote ? `  from ${a.remote}` : ''}`)
      : ['  none']),
    '',
    `Heartbeats (last ${i.heartbeats.length}):`,
    ...(i.heartbeats.length
      ? [...i.heartbeats]
          .reverse()
          .map((h) => `  ${iso(h.at)}  ${h.hostname || '?'}  v${h.version || '?'}  up ${formatDuration(h.uptimeS * 1000)}  generation ${h.generation}${h.oneshot ? '  oneshot' : ''}`)
      : ['  none']),
  ];
  return lines.join('\n') + '\n';
}
