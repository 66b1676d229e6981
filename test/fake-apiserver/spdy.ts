/**
 * Minimal SPDY/3.1 server session for `kubectl port-forward` (portforward.k8s.io):
 * used over a raw HTTP/1.1 `Upgrade: SPDY/3.1` connection, and over a WebSocket tunnel
 * (subprotocol `SPDY/3.1+portforward.k8s.io`, what kubectl >= 1.31 tries first).
 * Each forwarded port is an echo server unless a connector is supplied.
 */
import zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';

// The SPDY/3 header compression dictionary (SPDY draft 3, section 2.6.10.1).
const DICT_WORDS = [
  'options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset', 'accept-encoding', 'accept-language',
  'accept-ranges', 'age', 'allow', 'authorization', 'cache-control', 'connection', 'content-base', 'content-encoding',
  'content-language', 'content-length', 'content-location', 'content-md5', 'content-range', 'content-type', 'date', 'etag',
  'expect', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since',
  'last-modified', 'location', 'max-forwards', 'pragma', 'proxy-authenticate', 'proxy-authorization', 'range', 'referer',
  'retry-after', 'server', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'vary', 'via', 'warning',
  'www-authenticate', 'method', 'get', 'status', '200 OK', 'version', 'HTTP/1.1', 'url', 'public', 'set-cookie', 'keep-alive',
  'origin',
];
const DICT_TAIL =
  '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
  '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized403 Forbidden' +
  '404 Not Found500 Internal Server Error501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept ' +
  'Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,' +
  'application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdch' +
  'charset=utf-8charset=iso-8859-1,utf-,*,enq=0.';

export const SPDY_DICTIONARY: Buffer = (() => {
  const parts: Buffer[] = [];
  for (const w of DICT_WORDS) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(w.length);
    parts.push(len, Buffer.from(w, 'latin1'));
  }
  parts.push(Buffer.from(DICT_TAIL, 'latin1'));
  const d = Buffer.concat(parts);
  if (d.length !== 1423 || createHash('sha256').update(d).digest('hex') !== '51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02') {
    throw new Error('SPDY dictionary mismatch');
  }
  return d;
})();

const TYPE_SYN_STREAM = 1;
const TYPE_SYN_REPLY = 2;
const TYPE_RST_STREAM = 3;
const TYPE_SETTINGS = 4;
const TYPE_PING = 6;
const TYPE_GOAWAY = 7;
const TYPE_HEADERS = 8;
const TYPE_WINDOW_UPDATE = 9;
const FLAG_FIN = 0x01;

function adler32(b: Buffer): number {
  let a = 1;
  let c = 0;
  for (let i = 0; i < b.length; i++) {
    a = (a + b[i]!) % 65521;
    c = (c + a) % 65521;
  }
  return ((c << 16) | a) >>> 0;
}

/**
 * Header-block compressor: one continuous zlib stream (with the SPDY dictionary id in its
 * header) made of byte-aligned stored blocks, exactly what a Z_SYNC_FLUSH of uncompressed
 * data produces. Valid for any zlib reader, synchronous, and stateless apart from the header.
 */
function storedHeader(len: number): Buffer {
  const h = Buffer.alloc(5);
  h[0] = 0x00; // BFINAL=0, BTYPE=00 (stored); the rest of the byte is alignment padding
  h.writeUInt16LE(len, 1);
  h.writeUInt16LE(~len & 0xffff, 3);
  return h;
}

class StoredZlibWriter {
  private started = false;
  write(data: Buffer): Buffer {
    const parts: Buffer[] = [];
    if (!this.started) {
      this.started = true;
      const cmf = 0x78;
      let flg = 0x20; // FDICT
      flg += 31 - ((cmf * 256 + flg) % 31 || 31);
      const hdr = Buffer.alloc(6);
      hdr[0] = cmf;
      hdr[1] = flg;
      hdr.writeUInt32BE(adler32(SPDY_DICTIONARY), 2);
      parts.push(hdr);
    }
    for (let off = 0; off < data.length; ) {
      const chunk = data.subarray(off, off + 0xffff);
      parts.push(storedHeader(chunk.length), chunk);
      off += chunk.length;
    }
    // the empty stored block that ends a Z_SYNC_FLUSH: readers (Go's compress/flate) hand
    // over the buffered data when they reach it, without reading past the frame
    parts.push(storedHeader(0));
    return Buffer.concat(parts);
  }
}

/** Byte transport under the SPDY session (raw socket or WebSocket tunnel). */
export interface SpdyTransport {
  write(b: Buffer): void;
  close(): void;
}

export type PortConnector = (port: number) => Duplex | null;

interface Stream {
  id: number;
  headers: Record<string, string>;
  remoteClosed: boolean;
  localClosed: boolean;
  target?: Duplex;
}

export class SpdyPortForwardSession {
  private buf: Buffer = Buffer.alloc(0);
  private inflater = zlib.createInflate({ dictionary: SPDY_DICTIONARY });
  private deflater = new StoredZlibWriter();
  private chain: Promise<void> = Promise.resolve();
  private streams = new Map<number, Stream>();
  private closed = false;
  /** Ports and request ids seen (for tests). */
  readonly forwarded: { port: number; requestId: string; bytes: number }[] = [];

  constructor(
    private readonly t: SpdyTransport,
    private readonly connect: PortConnector,
    private readonly onClose?: () => void,
  ) {
    this.inflater.on('error', (e) => this.fail(e));
  }

  private fail(e: unknown): void {
    if (this.closed) return;
    if (process.env.FAKE_APISERVER_DEBUG) console.error('[fake-apiserver] spdy error', e);
    this.goaway(1);
    this.close();
  }

  /** Feed bytes received from the client. */
  push(data: Buffer): void {
    if (this.closed) return;
    this.buf = this.buf.length ? Buffer.concat([this.buf, data]) : data;
    while (this.buf.length >= 8) {
      const len = this.buf.readUIntBE(5, 3);
      if (this.buf.length < 8 + len) break;
      const frame = Buffer.from(this.buf.subarray(0, 8 + len));
      this.buf = this.buf.subarray(8 + len);
      this.chain = this.chain.then(() => (this.closed ? undefined : this.onFrame(frame))).catch((e) => this.fail(e));
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams.values()) s.target?.destroy();
    this.streams.clear();
    this.t.close();
    this.inflater.close();
    this.onClose?.();
  }

  private async onFrame(f: Buffer): Promise<void> {
    const control = (f[0]! & 0x80) !== 0;
    const flags = f[4]!;
    if (process.env.FAKE_APISERVER_SPDY_TRACE) console.error('[spdy <]', control ? `ctrl type=${f.readUInt16BE(2)}` : `data id=${f.readUInt32BE(0)}`, `flags=${flags}`, `len=${f.length - 8}`);
    const body = f.subarray(8);
    if (!control) {
      const id = f.readUInt32BE(0) & 0x7fffffff;
      const s = this.streams.get(id);
      if (!s) return;
      if (body.length) this.onStreamData(s, body);
      if (flags & FLAG_FIN) this.onStreamFin(s);
      return;
    }
    const type = f.readUInt16BE(2);
    switch (type) {
      case TYPE_SYN_STREAM: {
        const id = body.readUInt32BE(0) & 0x7fffffff;
        const headers = await this.decodeHeaders(body.subarray(10));
        const s: Stream = { id, headers, remoteClosed: false, localClosed: false };
        this.streams.set(id, s);
        this.reply(id);
        this.onStreamOpen(s);
        if (flags & FLAG_FIN) this.onStreamFin(s);
        break;
      }
      case TYPE_HEADERS:
        await this.decodeHeaders(body.subarray(4)); // keep the zlib context in sync
        break;
      case TYPE_RST_STREAM: {
        const id = body.readUInt32BE(0) & 0x7fffffff;
        const s = this.streams.get(id);
        if (s) {
          s.target?.destroy();
          this.streams.delete(id);
        }
        break;
      }
      case TYPE_PING:
        this.writeControl(TYPE_PING, 0, body.subarray(0, 4));
        break;
      case TYPE_GOAWAY:
        this.close();
        break;
      case TYPE_SETTINGS:
      case TYPE_WINDOW_UPDATE:
      default:
        break;
    }
  }

  private inflate(block: Buffer): Promise<Buffer> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      const onData = (d: Buffer) => chunks.push(d);
      this.inflater.on('data', onData);
      this.inflater.write(block);
      this.inflater.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        this.inflater.off('data', onData);
        resolve(Buffer.concat(chunks));
      });
    });
  }

  private async decodeHeaders(block: Buffer): Promise<Record<string, string>> {
    const raw = await this.inflate(block);
    const out: Record<string, string> = {};
    let p = 0;
    const n = raw.readUInt32BE(p);
    p += 4;
    for (let i = 0; i < n; i++) {
      const nl = raw.readUInt32BE(p);
      p += 4;
      const name = raw.subarray(p, p + nl).toString('utf8');
      p += nl;
      const vl = raw.readUInt32BE(p);
      p += 4;
      const value = raw.subarray(p, p + vl).toString('utf8');
      p += vl;
      out[name.toLowerCase()] = value.split('\0')[0]!;
    }
    return out;
  }

  private encodeHeaders(h: Record<string, string>): Buffer {
    const parts: Buffer[] = [];
    const u32 = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(n);
      return b;
    };
    const entries = Object.entries(h);
    parts.push(u32(entries.length));
    for (const [k, v] of entries) {
      const kb = Buffer.from(k.toLowerCase());
      const vb = Buffer.from(v);
      parts.push(u32(kb.length), kb, u32(vb.length), vb);
    }
    return this.deflater.write(Buffer.concat(parts));
  }

  private writeControl(type: number, flags: number, body: Buffer): void {
    if (this.closed) return;
    const h = Buffer.alloc(8);
    h.writeUInt16BE(0x8003, 0);
    h.writeUInt16BE(type, 2);
    h.writeUInt32BE(body.length, 4);
    h[4] = flags;
    this.t.write(Buffer.concat([h, body]));
  }

  private writeData(id: number, flags: number, data: Buffer): void {
    if (this.closed) return;
    const max = 0xffffff;
    let off = 0;
    do {
      const chunk = data.subarray(off, off + max);
      off += chunk.length;
      const h = Buffer.alloc(8);
      h.writeUInt32BE(id & 0x7fffffff, 0);
      h.writeUInt32BE(chunk.length, 4);
      h[4] = off >= data.length ? flags : 0;
      this.t.write(Buffer.concat([h, chunk]));
    } while (off < data.length);
  }

  private reply(id: number): void {
    const idb = Buffer.alloc(4);
    idb.writeUInt32BE(id);
    this.writeControl(TYPE_SYN_REPLY, 0, Buffer.concat([idb, this.encodeHeaders({})]));
  }

  private goaway(status: number): void {
    const b = Buffer.alloc(8);
    b.writeUInt32BE(0, 0);
    b.writeUInt32BE(status, 4);
    this.writeControl(TYPE_GOAWAY, 0, b);
  }

  private finish(s: Stream): void {
    if (s.localClosed) return;
    s.localClosed = true;
    this.writeData(s.id, FLAG_FIN, Buffer.alloc(0));
    if (s.remoteClosed) this.streams.delete(s.id);
  }

  private onStreamOpen(s: Stream): void {
    const type = s.headers.streamtype;
    const port = Number(s.headers.port);
    if (type === 'error') return; // closed by us when the data stream ends
    if (type !== 'data') return;
    const rec = { port, requestId: s.headers.requestid ?? '', bytes: 0 };
    this.forwarded.push(rec);
    const target = this.connect(port);
    const errStream = [...this.streams.values()].find((x) => x.headers.streamtype === 'error' && x.headers.requestid === s.headers.requestid);
    if (!target) {
      if (errStream) {
        this.writeData(errStream.id, 0, Buffer.from(`error forwarding port ${port} to pod: connection refused`));
        this.finish(errStream);
      }
      this.finish(s);
      return;
    }
    s.target = target;
    target.on('data', (d: Buffer) => {
      rec.bytes += d.length;
      this.writeData(s.id, 0, d);
    });
    target.on('end', () => this.finish(s));
    target.on('error', () => this.finish(s));
    target.on('close', () => {
      this.finish(s);
      if (errStream) this.finish(errStream);
    });
  }

  private onStreamData(s: Stream, data: Buffer): void {
    s.target?.write(data);
  }

  private onStreamFin(s: Stream): void {
    s.remoteClosed = true;
    if (s.headers.streamtype === 'data') s.target?.end();
    if (s.localClosed) this.streams.delete(s.id);
  }
}
