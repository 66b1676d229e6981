import type { FastifyReply } from 'fastify';
import type { TtlCap } from '../../auth/policy';
import { formatDuration } from '../../core/duration';
import { TapgateError } from '../../core/errors';
import { gateAssets } from '../assets';
import type { GateApp } from '../api';
import type { GateContext } from '../context';
import { html, page, PAGE_CSP, problemPage } from '../pages';
import type { GateServices } from '../services';

/** The gate's own web pages: enrolment, login and the tap. The ceremonies run in renderer/gate. */
export function pageRoutes(app: GateApp, ctx: GateContext, svc: GateServices): void {
  app.get('/assets/:name', async (req, reply) => {
    const { name } = req.params as { name: string };
    const asset = (await gateAssets()).get(name);
    if (!asset) throw new TapgateError('not_found', `no asset ${name}`, { status: 404 });
    return reply.header('content-type', asset.type).header('cache-control', 'no-cache').send(asset.body);
  });

  app.get('/', async (_req, reply) =>
    sendPage(reply, 200, page({
      title: 'Gate',
      body: html`<h1>This gate is running</h1>
<p>Sign in from your terminal with <code>tapgate login --server ${ctx.config.public_url}</code>. New users get an enrolment link from their administrator.</p>`,
    })),
  );

  app.get('/enrol/:token', async (req, reply) => {
    const { token } = req.params as { token: string };
    let link;
    try {
      link = await svc.enrolment.describe(token);
    } catch (e) {
      return problem(reply, e, 'Enrolment link not usable');
    }
    return sendPage(reply, 200, page({
      title: 'Register a security key',
      script: 'enrol',
      data: { token },
      body: html`<h1>Register a security key</h1>
<p>For <strong>${link.userName}</strong>${link.keys ? html` (you have ${link.keys} key${link.keys > 1 ? 's' : ''} already)` : ''}. Insert your key, press the button, then touch the key and enter its PIN when asked.</p>
<div id="key-name-row"><label for="key-name">Name for this key (optional)</label><input id="key-name" type="text" maxlength="64" autocomplete="off" placeholder="e.g. blue yubikey"></div>
<div class="actions" id="actions"><button id="register" type="button">Register security key</button></div>
<p class="note" id="note">This link works once, until ${formatTime(link.expiresAt)}.</p>`,
    }));
  });

  app.get('/login', async (req, reply) => {
    const id = String((req.query as { session?: string }).session ?? '');
    const s = await svc.logins.get(id);
    if (!s) return sendPage(reply, 404, problemPage('Login link not known', 'This login link is not known to the gate. Run "tapgate login" again.'));
    if (s.status === 'expired') return sendPage(reply, 410, problemPage('Login link expired', 'This login link has expired. Run "tapgate login" again.'));
    if (s.status !== 'pending') return sendPage(reply, 409, problemPage('Login already finished', 'This login was already completed. Return to your terminal.'));
    const from = [s.requester.host, s.requester.ip && `(${s.requester.ip})`].filter(Boolean).join(' ') || 'unknown';
    return sendPage(reply, 200, page({
      title: 'Sign in',
      script: 'login',
      data: { session: id },
      body: html`<h1>Sign in to Tapgate</h1>
<p>Check that your terminal shows the same code, then sign in with your security key.</p>
<dl>
<dt>Code</dt><dd class="code">${s.code}</dd>
<dt>Requested from</dt><dd>${from}</dd>
<dt>Link expires</dt><dd>${formatTime(s.expiresAt)}</dd>
</dl>
<div class="actions" id="actions"><button id="signin" type="button">Sign in with security key</button></div>`,
    }));
  });

  app.get('/tap/:id', async (req, reply) => {
    const { id } = req.params as { id: string };
    const r = await svc.mfa.get(id);
    if (!r) return sendPage(reply, 404, problemPage('Request not known', 'This tap request is not known to the gate. Start again from your terminal or the tray app.'));
    if (r.status === 'expired') return sendPage(reply, 410, problemPage('Request expired', 'This tap request has expired. Run your command again to get a new one.'));
    if (r.status !== 'pending') return sendPage(reply, 409, problemPage('Request already answered', `This request was already ${r.status}. You can close this window.`));
    const p = await svc.mfa.preview(id);
    const who = [p.requester.process, p.requester.host && `on ${p.requester.host}`, p.requester.ip && `(${p.requester.ip})`].filter(Boolean).join(' ') || 'unknown';
    return sendPage(reply, 200, page({
      title: 'Approve access',
      script: 'tap',
      data: { request: id },
      body: html`<h1>Approve Kubernetes access</h1>
<p><strong>${p.userName}</strong>, tap your security key to approve this request.</p>
<dl>
<dt>Cluster${p.clusters.length > 1 ? 's' : ''}</dt><dd>${p.clusters.join(', ')}</dd>
<dt>Valid for</dt><dd id="ttl">${describeTtl(p.ttlMs, p.requestedTtlMs, p.cappedBy)}</dd>
<dt>Requested by</dt><dd>${who}</dd>
${p.requester.command ? html`<dt>Command</dt><dd><code>${p.requester.command}</code></dd>` : ''}
</dl>
<div class="actions" id="actions"><button id="approve" type="button">Approve with security key</button><button id="deny" class="secondary" type="button">Deny</button></div>
<p class="note" id="note">Approve only if you started this just now.</p>`,
    }));
  });
}

/** "15m (you asked for 1h; your roles allow 15m per tap)" */
export function describeTtl(ttlMs: number, requestedMs: number, cappedBy: TtlCap): string {
  const ttl = formatDuration(ttlMs);
  const asked = requestedMs > 0 && requestedMs !== ttlMs ? `you asked for ${formatDuration(requestedMs)}; ` : '';
  if (cappedBy === 'requested') return ttl;
  if (cappedBy === 'login') return `${ttl} (${asked}your login session ends then)`;
  return asked ? `${ttl} (${asked}your roles allow ${ttl} per tap)` : `${ttl} (the most your roles allow per tap)`;
}

function formatTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function sendPage(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status).header('content-type', 'text/html; charset=utf-8').header('content-security-policy', PAGE_CSP).send(body);
}

function problem(reply: FastifyReply, e: unknown, title: string): FastifyReply {
  if (!(e instanceof TapgateError)) throw e;
  return sendPage(reply, e.status, problemPage(title, e.message));
}
