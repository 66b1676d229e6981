import assert from 'node:assert/strict';
import { createHash, createPublicKey } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { before, describe, it } from 'node:test';
import { makeTestPki, type TestPki } from '../../../test/helpers/tls';
import { ManualClock } from '../../core/clock';
import { certificateDer } from '../../pki/certificate';
import { generateKeyPair, publicKeyFingerprint } from '../../pki/ca';
import { verifyRenewProof } from '../key-proof';
import { HttpBotApi } from './bot-api';

interface Seen {
  path: string;
  body: Record<string, unknown>;
  clientCert: boolean;
  /** which connection carried it */
  socket: number;
  caFingerprint?: string;
}

/** A stand-in for the gate's /v1/bots routes: `signed` says whether it takes proofs in the body, as gates since 0006 do. */
async function fakeGate(pki: TestPki, signed: boolean): Promise<{ url: string; seen: Seen[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const sockets = new WeakMap<object, number>();
  let connections = 0;
  const server = https.createServer({ cert: pki.serverCertPem, key: pki.serverKeyPem, ca: pki.caPem, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c));
    req.on('end', () => {
      const body = JSON.parse(text) as Record<string, unknown>;
      const socket = req.socket as TLSSocket;
      if (!sockets.has(socket)) sockets.set(socket, connections++);
      const clientCert = socket.getPeerX509Certificate() !== undefined;
      seen.push({ path: req.url ?? '', body, clientCert, socket: sockets.get(socket)!, caFingerprint: req.headers['x-tapgate-ca-fingerprint'] as string | undefined });
      const answer = (status: number, data: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(data));
      if ('proof' in body && !signed) return answer(400, { code: 'bad_request', message: 'request body: (top level): unknown field "cert", "proof", "at"' });
      if (!clientCert && !('proof' in body)) return answer(401, { code: 'client_cert_required', message: 'needs mTLS' });
      answer(200, req.url === '/v1/bots/renew' ? { certPem: 'issued', generation: 2 } : { instanceId: 'i', generation: 1 });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('HttpBotApi', () => {
  let pki: TestPki;
  let bot: { certPem: string; keyPem: string };
  const clock = new ManualClock(Date.UTC(2026, 5, 1));
  const beat = { hostname: 'h', version: '1', uptime: 1, oneshot: false };

  before(async () => {
    pki = await makeTestPki();
    bot = await pki.issueClientCert({ cn: 'bot' });
  });

  it('renews and heartbeats with a signed proof over one kept-alive connection, without a client certificate', async () => {
    const gate = await fakeGate(pki, true);
    const api = new HttpBotApi(gate.url, () => pki.caPem, { clock });
    try {
      const next = await generateKeyPair();
      await api.renew(bot, { publicKey: next.publicKeyPem, ttl: 60_000 });
      await api.heartbeat(bot, beat);
      await api.renew(bot, { publicKey: next.publicKeyPem });
      assert.deepEqual(
        gate.seen.map((s) => [s.path, s.clientCert, s.socket]),
        [
          ['/v1/bots/renew', false, 0],
          ['/v1/bots/heartbeat', false, 0],
          ['/v1/bots/renew', false, 0],
        ],
      );
      const first = gate.seen[0]!.body;
      assert.equal(first.cert, bot.certPem);
      assert.equal(first.at, clock.now());
      assert.equal(first.ttl, 60_000);
      const certKey = createPublicKey(bot.keyPem);
      const certFp = createHash('sha256').update(certificateDer(bot.certPem)).digest('hex');
      assert.ok(verifyRenewProof(certKey, certFp, publicKeyFingerprint(next.publicKeyPem), clock.now(), first.proof as string));
    } finally {
      await api.close();
      await gate.close();
    }
  });

  it('falls back to mutual TLS, for good, when the gate predates signed requests', async () => {
    const gate = await fakeGate(pki, false);
    const api = new HttpBotApi(gate.url, () => pki.caPem, { clock });
    try {
      const next = await generateKeyPair();
      assert.equal((await api.renew(bot, { publicKey: next.publicKeyPem }, { caFingerprint: 'f'.repeat(64) })).generation, 2);
      await api.heartbeat(bot, beat);
      assert.deepEqual(
        gate.seen.map((s) => [s.path, 'proof' in s.body, s.clientCert, s.caFingerprint]),
        [
          ['/v1/bots/renew', true, false, 'f'.repeat(64)],
          ['/v1/bots/renew', false, true, 'f'.repeat(64)],
          ['/v1/bots/heartbeat', false, true, undefined],
        ],
      );
    } finally {
      await api.close();
      await gate.close();
    }
  });
});
