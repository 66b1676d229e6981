import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock';
import type { Admitted } from './admission';
import type { ClientConn } from './client-conn';
import { streamInfoOf, unreachable } from './forwarder';
import { upstreamHeaders } from './impersonation';
import type { KubeMetrics } from './metrics';
import { cutStatus, rawStatusResponse } from './status';
import type { StreamHandle, StreamRegistry } from './streams';
import { channelErrorAndClose, STATUS_CHANNEL_PROTOCOLS, WsFrameTracker } from './websocket-frames';

/** A refusal body longer than this is cut; kubectl only needs the Status to decide on a fallback. */
const MAX_REFUSAL_BODY = 1024 * 1024;

/** Response headers re-framed by the gate when it passes a non-101 answer back. */
const REFRAMED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length']);

/**
 * Upgrade requests (exec, attach, port-forward over WebSocket v5.channel.k8s.io or SPDY/3.1,
 * and any other upgrade) go over their own HTTP/1.1 connection to the API server. A 101 is
 * relayed and the two sockets are joined; any other answer is passed back as the API server
 * gave it, so kubectl can fall back from WebSocket to SPDY.
 */
export class UpgradeForwarder {
  constructor(private readonly deps: { registry: StreamRegistry; metrics: KubeMetrics; clock: Clock; log: Logger }) {}

  forward(req: IncomingMessage, client: Socket, head: Buffer, a: Admitted, conn: ClientConn): void {
    const { metrics, log } = this.deps;
    const { origin, tls: t } = a.upstream.creds;
    const headers = upstreamHeaders(req.headersDistinct, a.ctx.as, a.upstream.creds.authorization(), { upgrade: true });
    headers['host'] = origin.host;
    let joined = false;
    const up = https.request({
      host: origin.hostname.replace(/^\[|\]$/g, ''),
      port: Number(origin.port || 443),
      method: req.method,
      path: a.upstreamPath,
      headers,
      agent: false,
      ca: t.ca,
      cert: t.cert,
      key: t.key,
      servername: t.servername,
      rejectUnauthorized: t.rejectUnauthorized,
    });
    const onClientGone = () => {
      if (!joined) up.destroy();
    };
    client.once('close', onClientGone);
    client.on('error', () => client.destroy());

    up.once('error', (err) => {
      if (joined || client.destroyed) return;
      log.warn({ err, cluster: a.cluster }, 'kube listener: upstream upgrade request failed');
      const e = unreachable(a.cluster, err);
      metrics.request(a.cluster, e.status);
      client.end(rawStatusResponse(e));
    });

    up.once('response', (res) => {
      metrics.request(a.cluster, res.statusCode ?? 502);
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        if (size < MAX_REFUSAL_BODY) chunks.push(c);
        size += c.length;
      });
      res.once('end', () => {
        if (client.destroyed) return;
        const body = Buffer.concat(chunks).subarray(0, MAX_REFUSAL_BODY);
        let headText = `HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ''}\r\n`;
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          if (!REFRAMED.has(res.rawHeaders[i]!.toLowerCase())) headText += `${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}\r\n`;
        }
        headText += `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
        client.end(Buffer.concat([Buffer.from(headText, 'latin1'), body]));
        up.destroy();
      });
      res.once('error', () => client.destroy());
    });

    up.once('upgrade', (res, upSocket, upHead) => {
      if (client.destroyed) {
        upSocket.destroy();
        return;
      }
      joined = true;
      client.removeListener('close', onClientGone);
      metrics.request(a.cluster, 101);
      let headText = `HTTP/1.1 101 ${res.statusMessage || 'Switching Protocols'}\r\n`;
      for (let i = 0; i < res.rawHeaders.length; i += 2) headText += `${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}\r\n`;
      client.write(Buffer.from(`${headText}\r\n`, 'latin1'));
      // Channel sessions can be ended with a message kubectl prints, if we know where frames end.
      const tracker = STATUS_CHANNEL_PROTOCOLS.has(String(res.headers['sec-websocket-protocol'] ?? '')) ? new WsFrameTracker() : undefined;
      const track = (c: Buffer) => tracker!.observe(c);
      if (upHead.length) {
        tracker?.observe(upHead);
        client.write(upHead);
      }
      if (head.length) upSocket.write(head);
      setInteractive(client);
      setInteractive(upSocket);

      let handle: StreamHandle | undefined;
      let ending = false;
      const end = (reason: 'client_closed' | 'upstream_closed') => {
        handle?.end(reason);
        if (ending) return;
        client.destroy();
        upSocket.destroy();
      };
      client.once('close', () => end('client_closed'));
      upSocket.once('close', () => end('upstream_closed'));
      upSocket.on('error', () => upSocket.destroy());
      if (tracker) upSocket.on('data', track);
      client.pipe(upSocket);
      upSocket.pipe(client);
      handle = this.deps.registry.open(streamInfoOf(a, conn.remote, this.deps.clock.now()), (reason, detail) => {
        if (tracker?.atBoundary && client.writable) {
          ending = true;
          upSocket.unpipe(client);
          client.unpipe(upSocket);
          upSocket.destroy();
          client.end(channelErrorAndClose(cutStatus(reason, detail, 'session')));
          // the client gets a moment to read the message; then the socket goes regardless
          client.setTimeout(5_000, () => client.destroy());
          return;
        }
        client.destroy();
        upSocket.destroy();
      });
    });

    up.end();
  }
}

/** Exec and port-forward are interactive: no Nagle delay, and no idle timeout from the HTTP server. */
function setInteractive(s: Socket): void {
  s.setNoDelay(true);
  s.setTimeout(0);
}
