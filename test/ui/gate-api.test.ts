/**
 * The gate's HTTP surface without a browser: JSON errors everywhere, limits, health, metrics,
 * and how GateClient reports what went wrong.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { GateClient } from '../../src/client/api-client';
import { TapgateError } from '../../src/core/errors';
import { CertificateAuthority, generateKeyPair } from '../../src/pki/ca';
import { startTestGate, type TestGate } from '../helpers/gate';

describe('gate API', () => {
  let tg: TestGate;
  let agent: Agent;

  before(async () => {
    tg = await startTestGate({ clusters: ['dev'] });
    agent = new Agent({ connect: { ca: tg.caPem } });
  });
  after(async () => {
    await agent?.close();
    await tg?.close();
  });

  async function call(method: 'GET' | 'POST', path: string, body?: string, contentType = 'application/json') {
    const res = await request(`${tg.url}${path}`, { method, dispatcher: agent, body, headers: body === undefined ? {} : { 'content-type': contentType } });
    const text = await res.body.text();
    return { status: res.statusCode, type: String(res.headers['content-type']), text, json: () => JSON.parse(text) as { code: string; message: string } };
  }

  it('answers every error as JSON {code, message}', async () => {
    const cases: [method: 'GET' | 'POST', path: string, body: string | undefined, status: number, code: string, message: RegExp][] = [
      ['GET', '/nope', undefined, 404, 'not_found', /no such route: GET \/nope/],
      ['POST', '/v1/login/sessions', '{"publicKey": 5}', 400, 'bad_request', /publicKey/],
      ['POST', '/v1/login/sessions', '{"publicKey": "x", "extra": 1}', 400, 'bad_request', /publicKey|extra/],
      ['POST', '/v1/login/sessions', '{not json', 400, 'bad_json', /not valid JSON/],
      ['POST', '/v1/login/sessions', JSON.stringify({ publicKey: 'x'.repeat(70_000) }), 413, 'body_too_large', /64 KiB/],
      ['GET', '/v1/whoami', undefined, 401, 'no_client_cert', /tapgate login/],
      ['GET', '/v1/login/sessions/00000000-0000-0000-0000-000000000000', undefined, 404, 'login_unknown', /tapgate login/],
      ['GET', '/v1/login/sessions/x?wait=999', undefined, 400, 'bad_request', /wait/],
    ];
    for (const [method, path, body, status, code, message] of cases) {
      const r = await call(method, path, body);
      assert.equal(r.status, status, `${method} ${path}: ${r.text}`);
      assert.match(r.type, /application\/json/);
      assert.equal(r.json().code, code, r.text);
      assert.match(r.json().message, message);
    }
    const plain = await call('POST', '/v1/login/sessions', 'x', 'text/plain');
    assert.equal(plain.status, 415);
    assert.equal(plain.json().code, 'unsupported_media_type');
    assert.equal((await tg.audit({ event: 'api.auth', outcome: 'refused' }))[0]?.reason, 'no client certificate');
  });

  it('serves /healthz, /metrics and pages with a strict CSP', async () => {
    assert.deepEqual((await call('GET', '/healthz')).json(), { ok: true });
    const metrics = (await call('GET', '/metrics')).text;
    assert.match(metrics, /tapgate_http_requests_total\{method="GET",route="\/healthz",status="200"\} 1/);
    assert.match(metrics, /tapgate_refusals_total\{event="api\.auth",code="no_client_cert"\}/);
    assert.match(metrics, /tapgate_process_cpu_seconds_total/);
    const res = await request(`${tg.url}/enrol/nope`, { dispatcher: agent });
    await res.body.text();
    assert.equal(res.statusCode, 404);
    assert.match(String(res.headers['content-security-policy']), /script-src 'self'.*frame-ancestors 'none'/);
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
  });

  it('long-polls a login session and reports it still pending when the wait ends', async () => {
    const c = new GateClient({ server: tg.url, caPem: tg.caPem });
    try {
      const s = await c.createLoginSession({ publicKeyPem: (await generateKeyPair()).publicKeyPem, ttlMs: 3_600_000, requester: { host: 'h' } });
      assert.match(s.url, new RegExp(`^${tg.url}/login\\?session=${s.id}$`));
      assert.match(s.code, /^[A-Z2-9]{4}-[A-Z2-9]{4}$/);
      const err = await c.waitLoginSession(s.id, { timeoutMs: 1000 }).catch((e: unknown) => e);
      assert.ok(err instanceof TapgateError && err.code === 'login_timeout', String(err));
    } finally {
      await c.close();
    }
  });

  it('turns transport problems into errors that say what to do', async () => {
    const other = await CertificateAuthority.createInMemory('host');
    const wrongCa = new GateClient({ server: tg.url, caPem: other.certPem });
    const untrusted = await wrongCa.health().catch((e: unknown) => e);
    await wrongCa.close();
    assert.ok(untrusted instanceof TapgateError && untrusted.code === 'gate_untrusted', String(untrusted));
    assert.match(untrusted.message, /--ca-file/);

    const down = new GateClient({ server: 'https://127.0.0.1:9', caPem: tg.caPem });
    const unreachable = await down.health().catch((e: unknown) => e);
    await down.close();
    assert.ok(unreachable instanceof TapgateError && unreachable.code === 'gate_unreachable', String(unreachable));

    const tofu = await GateClient.fetchCa(tg.url);
    assert.equal(tofu.caPem, tg.caPem);
  });
});
