import type { IncomingHttpHeaders } from 'node:http';
import type { Writable } from 'node:stream';

/**
 * How much a client side may hold before the upstream is paused. Not write()'s own false: on an
 * HTTP/1.1 socket that comes at 16 KiB, after every TLS record, which leaves one record in flight
 * per hop and halves the throughput of a large list.
 */
export const RELAY_DEPTH_BYTES = 1024 * 1024;

/** Writes one relayed chunk; true when the source should pause until the client side's 'drain'. */
export function relayWrite(out: Writable, chunk: Buffer): boolean {
  return !out.write(chunk) && out.writableLength >= RELAY_DEPTH_BYTES;
}

/** Response headers that belong to one connection and must not be passed on (illegal in HTTP/2). */
export function dropConnectionHeaders(h: IncomingHttpHeaders): IncomingHttpHeaders {
  if (h['connection'] !== undefined) delete h['connection'];
  if (h['keep-alive'] !== undefined) delete h['keep-alive'];
  if (h['transfer-encoding'] !== undefined) delete h['transfer-encoding'];
  if (h['proxy-connection'] !== undefined) delete h['proxy-connection'];
  if (h['upgrade'] !== undefined) delete h['upgrade'];
  return h;
}
