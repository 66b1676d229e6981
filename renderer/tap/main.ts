import type { AgentStatus, PendingTap } from '../../src/client/agent-types';
import type { TrayPush } from '../../src/tray/agent-source';
import { clockFace, spokenDuration } from '../../src/tray/time-format';
import { getBridge } from '../shared/bridge';
import { programName, readableCommand } from '../../src/tray/command-line';
import { AgentClock, byId, h, replace } from '../shared/dom';

/**
 * The tap window's own part: what is waiting and until when, Cancel, and the browser fallback.
 * The tap itself happens on the gate's page (its origin is the WebAuthn relying party), which the
 * tray shows below this in the same window; in a browser there is a link to it instead.
 */
const api = getBridge();
const clock = new AgentClock();
let status: AgentStatus | undefined;
let firstGiveUp: { id: string; span: number } | undefined;
const inElectron = api.kind === 'electron';

byId('below').hidden = !inElectron;
// in a browser the page itself is the fallback: it links to the tap page instead
byId('browser').hidden = !inElectron;

function render(): void {
  const now = clock.now();
  const p = status?.state === 'waiting-for-tap' ? status.pendingTap : undefined;
  document.body.classList.toggle('done', !p);
  byId<HTMLButtonElement>('cancel').disabled = !p;
  byId<HTMLButtonElement>('browser').disabled = !p;
  const open = byId<HTMLAnchorElement>('open-tap');
  open.hidden = inElectron || !p;
  if (p) open.href = p.tapUrl;
  if (!p) {
    const verified = status?.state === 'verified' || status?.state === 'lapsing';
    byId('title').textContent = verified ? 'Verified' : 'No tap requested';
    byId('subtitle').textContent = verified && status?.mfaExpires ? `kubectl can go on for ${spokenDuration(status.mfaTtlMs ?? status.mfaExpires - now)} without another tap. You can close this window.` : 'Nothing is waiting for a tap.';
    replace(byId('held'));
    byId('giveup').textContent = '';
    setBar(0);
    byId('below').hidden = true;
    return;
  }
  byId('below').hidden = !inElectron;
  byId('title').textContent = p.held.length ? 'kubectl is waiting for your tap' : 'Tap your security key';
  byId('subtitle').textContent = `to open ${p.clusters.join(', ')}`;
  renderHeld(p, now);
  const left = p.giveUpAt - now;
  if (!firstGiveUp || firstGiveUp.id !== p.id || left > firstGiveUp.span) firstGiveUp = { id: p.id, span: Math.max(left, 1) };
  byId('giveup').textContent = left > 0 ? `${p.held.length ? 'Held requests give up' : 'Gives up'} in ${clockFace(left)}` : 'Giving up…';
  setBar(left / firstGiveUp.span);
}

function renderHeld(p: PendingTap, now: number): void {
  const items = p.held.map((c) =>
    h(
      'li',
      {},
      h('span', { class: 'cluster' }, c.cluster),
      h('span', { class: 'cmd mono', title: c.process?.command ?? c.summary }, c.process ? readableCommand(c.process.command) : `kubectl ${c.summary}`),
      h('span', { class: 'proc' }, c.process ? `${programName(c.process.command)} · pid ${c.process.pid} · held ${Math.max(0, Math.round((now - c.startedAt) / 1000))}s` : `held ${Math.max(0, Math.round((now - c.startedAt) / 1000))}s`),
    ),
  );
  replace(byId('held'), ...items);
}

function setBar(fraction: number): void {
  (byId('giveup-bar').firstElementChild as HTMLElement).style.width = `${Math.max(0, Math.min(1, fraction)) * 100}%`;
}

function showProblem(text: string | undefined): void {
  const el = byId('problem');
  el.hidden = !text;
  el.textContent = text ?? '';
  byId('browser').classList.toggle('primary', !!text);
}

function onPush(p: TrayPush): void {
  if (p.event === 'status') {
    status = p.data;
    clock.sync(p.data.now);
    render();
  } else if (p.event === 'tap-view') showProblem(`${p.data.problem} Use your browser to tap instead.`);
}

byId('cancel').addEventListener('click', () => {
  void api.cancelTap().catch((e: Error) => showProblem(e.message));
});
byId('browser').addEventListener('click', () => {
  void api
    .openTapInBrowser()
    .then((r) => showProblem(r.opened ? undefined : r.url ? `Could not start a browser; open ${r.url} yourself.` : 'No tap is waiting.'))
    .catch((e: Error) => showProblem(e.message));
});

api.subscribe(onPush);
void api.status().then((s) => onPush({ event: 'status', data: s }));
setInterval(render, 1000);
