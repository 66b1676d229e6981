import type { AgentEvent, AgentStatus, ConnectionInfo } from '../../src/client/agent-types';
import type { TrayPush } from '../../src/tray/agent-source';
import type { SettingsView } from '../../src/tray/ipc-channels';
import { iconState, type TrayIconState } from '../../src/tray/tray-model';
import { clockFace, coarseDuration, spokenDuration } from '../../src/tray/time-format';
import { getBridge } from '../shared/bridge';
import { readableCommand, programName } from '../../src/tray/command-line';
import { AgentClock, byId, bytes, h, replace } from '../shared/dom';

const api = getBridge();
const clock = new AgentClock();
let status: AgentStatus | undefined;
let connections: ConnectionInfo[] = [];
let events: AgentEvent[] = [];
const STATE_WORDS: Record<TrayIconState, string> = { idle: 'not verified', verified: 'verified', lapsing: 'lapsing', waiting: 'waiting for tap', error: 'error' };

function render(): void {
  const now = clock.now();
  const state = iconState(status, now);
  byId('state-dot').className = `dot ${state}`;
  const pill = byId('state-pill');
  pill.className = `pill ${state}`;
  pill.textContent = status ? (status.user || state !== 'idle' ? STATE_WORDS[state] : 'not logged in') : 'connecting';
  byId('account').textContent = status ? [status.user, hostOf(status.server)].filter(Boolean).join(' @ ') : '';
  document.title = `Tapgate · ${pill.textContent}`;
  renderBanner(state, now);
  renderCountdowns(state, now);
  const verify = byId<HTMLButtonElement>('verify');
  verify.textContent = state === 'verified' || state === 'lapsing' ? 'Extend now' : state === 'waiting' ? 'Waiting for tap…' : 'Verify now';
  verify.disabled = !status || state === 'waiting';
  byId<HTMLButtonElement>('forget').disabled = !(state === 'verified' || state === 'lapsing');
  byId('clusters').textContent = status?.clusters.length ? `clusters: ${status.clusters.map((c) => c.name).join(', ')}` : '';
  renderConnections(now);
}

function renderBanner(state: TrayIconState, now: number): void {
  const el = byId('banner');
  if (!status) return replace(el);
  if (state === 'lapsing') {
    return replace(el, h('div', { class: 'banner warn', id: 'lapse-warning', role: 'alert' }, h('span', {}, h('strong', {}, `MFA lapses in ${clockFace((status.mfaExpires ?? now) - now)}`), ' — tap to extend it, or the next kubectl call will wait for you.'), h('button', { class: 'small', onclick: () => void act(() => api.verifyNow()) }, 'Tap to extend')));
  }
  if (state === 'waiting') {
    const p = status.pendingTap;
    const held = p?.held.length ?? 0;
    return replace(
      el,
      h(
        'div',
        { class: 'banner wait', id: 'tap-banner', role: 'alert' },
        h('span', {}, h('strong', {}, held ? `kubectl is waiting for your tap` : 'Tap your security key'), p ? ` — gives up in ${clockFace(p.giveUpAt - now)}` : ''),
        api.kind === 'http' && p ? h('a', { href: p.tapUrl, target: '_blank', rel: 'noopener' }, 'Open the tap page') : h('button', { class: 'small', onclick: () => void act(() => api.openTapInBrowser()) }, 'Use my browser instead'),
      ),
    );
  }
  if (state === 'error') return replace(el, h('div', { class: 'banner bad', role: 'alert' }, status.error ?? 'The agent reported an error.'));
  if (!status.user) return replace(el, h('div', { class: 'banner info' }, h('span', {}, 'Not logged in. Run ', h('code', {}, `tapgate login --server ${status.server || 'URL'}`), ' in a terminal.')));
  return replace(el);
}

function renderCountdowns(state: TrayIconState, now: number): void {
  const mfaCard = byId('mfa-card');
  const s = status;
  const mfaLeft = s?.mfaExpires !== undefined ? s.mfaExpires - now : 0;
  const valid = state === 'verified' || state === 'lapsing' || (state === 'waiting' && mfaLeft > 0);
  mfaCard.className = `card ${valid ? (mfaLeft <= 60_000 ? 'lapsing' : 'verified') : ''}`;
  byId('mfa-countdown').textContent = valid ? clockFace(mfaLeft) : '–';
  byId('mfa-caption').textContent = valid
    ? `until MFA lapses${s?.mfaTtlMs ? ` · granted ${spokenDuration(s.mfaTtlMs)}` : ''}`
    : state === 'waiting'
      ? 'waiting for your tap'
      : s?.user
        ? 'not verified · the next kubectl call asks for a tap'
        : 'log in first';
  setBar('mfa-bar', valid && s?.mfaTtlMs ? mfaLeft / s.mfaTtlMs : 0, valid && mfaLeft <= 60_000 ? 'warn' : '');
  const loginLeft = s?.loginExpires !== undefined ? s.loginExpires - now : 0;
  const loggedIn = !!s?.user && loginLeft > 0;
  byId('login-countdown').textContent = loggedIn ? clockFace(loginLeft) : '–';
  byId('login-caption').textContent = loggedIn ? `until you log in again · ends ${new Date(s!.loginExpires!).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}` : 'not logged in';
  setBar('login-bar', loggedIn ? Math.min(1, loginLeft / (12 * 3_600_000)) : 0, 'login');
}

function setBar(id: string, fraction: number, kind: string): void {
  const bar = byId(id);
  bar.className = `bar ${kind}`;
  (bar.firstElementChild as HTMLElement).style.width = `${Math.max(0, Math.min(1, fraction)) * 100}%`;
}

function renderConnections(now: number): void {
  const body = byId('connections').querySelector('tbody')!;
  const live = connections.filter((c) => c.state === 'active').length;
  const held = connections.length - live;
  byId('conn-count').textContent = connections.length ? `${live} live${held ? ` · ${held} held` : ''}` : '';
  byId('no-connections').hidden = connections.length > 0;
  const rows = [...connections]
    .sort((a, b) => a.startedAt - b.startedAt)
    .map((c) =>
      h(
        'tr',
        { 'data-id': c.id, class: c.state === 'held' ? 'held' : '' },
        h('td', {}, c.process ? h('div', {}, h('div', {}, programName(c.process.command), ' ', h('span', { class: 'sub' }, `pid ${c.process.pid}`)), h('div', { class: 'sub mono', title: c.process.command }, truncate(readableCommand(c.process.command), 48))) : h('span', { class: 'muted' }, 'unknown')),
        h('td', {}, c.cluster),
        h('td', {}, h('span', { class: 'tag' }, c.kind), ' ', h('span', { class: 'mono' }, c.summary), c.state === 'held' ? h('div', { class: 'sub' }, 'held: waiting for a tap') : ''),
        h('td', { class: 'num' }, age(now - c.startedAt)),
        h('td', { class: 'num' }, `${bytes(c.bytesIn)} / ${bytes(c.bytesOut)}`),
        h('td', {}, h('button', { class: 'small danger', 'data-disconnect': c.id, onclick: () => void act(() => api.disconnect(c.id)) }, 'Disconnect')),
      ),
    );
  body.replaceChildren(...rows);
}

function renderEvents(): void {
  const items = [...events]
    .sort((a, b) => b.at - a.at)
    .slice(0, 12)
    .map((e) => h('li', {}, h('span', { class: 'muted mono' }, new Date(e.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false })), h('span', { class: `kind ${e.kind}` }, e.kind), h('span', {}, e.message)));
  replace(byId('events'), ...(items.length ? items : [h('li', { class: 'muted none' }, 'Nothing yet.')]));
}

function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return coarseDuration(ms);
}

function truncate(t: string, n: number): string {
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
}

function hostOf(server: string): string {
  try {
    return new URL(server).host;
  } catch {
    return server;
  }
}

async function act(fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    events = [...events, { kind: 'error', at: clock.now(), message: (e as Error).message }];
    renderEvents();
  }
}

function onPush(p: TrayPush): void {
  if (p.event === 'status') {
    status = p.data;
    clock.sync(p.data.now);
  } else if (p.event === 'connections') connections = p.data;
  else if (p.event === 'event') {
    events = [...events.slice(-49), p.data];
    renderEvents();
  }
  render();
}

// ---- settings
let settingsView: SettingsView | undefined;
async function loadSettings(): Promise<void> {
  try {
    settingsView = await api.settings();
  } catch {
    byId('nav-settings').hidden = true;
    return;
  }
  const f = byId<HTMLFormElement>('settings-form');
  const s = settingsView.settings;
  (f.elements.namedItem('server') as HTMLInputElement).value = s.server ?? '';
  (f.elements.namedItem('defaultTtl') as HTMLInputElement).value = s.defaultTtl;
  (f.elements.namedItem('startAtLogin') as HTMLInputElement).checked = s.startAtLogin;
  for (const k of ['lapseWarning', 'held', 'verified', 'locked'] as const) (f.elements.namedItem(k) as HTMLInputElement).checked = s.notifications[k];
  byId('key-protection').textContent = settingsView.keyProtected
    ? 'Your login key is sealed by the operating system keychain.'
    : 'No OS keychain was found: your login key is stored in a file only you can read (0600).';
}

byId<HTMLFormElement>('settings-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const f = e.target as HTMLFormElement;
  const val = (n: string) => (f.elements.namedItem(n) as HTMLInputElement);
  const msg = byId('settings-message');
  api
    .saveSettings({
      server: val('server').value,
      defaultTtl: val('defaultTtl').value,
      startAtLogin: val('startAtLogin').checked,
      notifications: { lapseWarning: val('lapseWarning').checked, held: val('held').checked, verified: val('verified').checked, locked: val('locked').checked },
    })
    .then((v) => {
      settingsView = v;
      msg.className = 'ok';
      msg.textContent = 'Saved.';
    })
    .catch((err: Error) => {
      msg.className = 'error';
      msg.textContent = err.message;
    });
});

function route(): void {
  const view = location.hash.replace('#', '') || 'status';
  const settings = view === 'settings';
  byId('view-status').hidden = settings;
  byId('view-settings').hidden = !settings;
  byId('nav-status').classList.toggle('active', !settings);
  byId('nav-settings').classList.toggle('active', settings);
  if (view === 'connections') byId('connections-section').scrollIntoView();
}

byId('verify').addEventListener('click', () => void act(() => api.verifyNow()));
byId('forget').addEventListener('click', () => void act(() => api.forgetMfa()));
window.addEventListener('hashchange', route);
route();
render();
renderEvents();
void loadSettings();
api.subscribe(onPush);
void Promise.all([api.status(), api.connections()]).then(([s, c]) => {
  onPush({ event: 'status', data: s });
  onPush({ event: 'connections', data: c });
});
void api.events().then((e) => {
  events = [...e, ...events.filter((x) => !e.some((y) => y.at === x.at && y.kind === x.kind))].slice(-50);
  renderEvents();
});
// a display tick for the countdowns; the data itself is pushed
setInterval(() => status && render(), 1000);
