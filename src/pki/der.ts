/**
 * The small slice of ASN.1 DER that X.509 certificates need: an encoder that builds TLVs from
 * Buffers and a reader that walks them in place. Hand-written because issuing goes through it
 * thousands of times a second (see docs/decisions/0001-x509-library.md).
 */

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

// ---- encoding ----

function headerLength(len: number): number {
  if (len < 0x80) return 2;
  if (len < 0x100) return 3;
  if (len < 0x10000) return 4;
  if (len < 0x1000000) return 5;
  throw new RangeError(`DER value too long (${len} bytes)`);
}

/** Writes a tag and a definite length at `out[0..]`; returns where the content starts. */
function writeHeader(out: Buffer, tag: number, len: number): number {
  const n = headerLength(len);
  out[0] = tag;
  if (n === 2) out[1] = len;
  else {
    out[1] = 0x80 | (n - 2);
    for (let i = n - 1, v = len; i >= 2; i--, v >>= 8) out[i] = v & 0xff;
  }
  return n;
}

// Each value is one allocation (header and content together): issuing builds a few hundred of them.
export function tlv(tag: number, content: Buffer): Buffer {
  const out = Buffer.allocUnsafe(headerLength(content.length) + content.length);
  content.copy(out, writeHeader(out, tag, content.length));
  return out;
}

/** A constructed value whose content is the given TLVs, in order. */
export function constructed(tag: number, items: Buffer[]): Buffer {
  let len = 0;
  for (const b of items) len += b.length;
  const out = Buffer.allocUnsafe(headerLength(len) + len);
  let at = writeHeader(out, tag, len);
  for (const b of items) at += b.copy(out, at);
  return out;
}

export const seq = (...items: Buffer[]): Buffer => constructed(TAG.SEQUENCE, items);
export const set = (...items: Buffer[]): Buffer => constructed(TAG.SET, items);
/** [n] EXPLICIT: a constructed context-specific wrapper. */
export const explicit = (n: number, inner: Buffer): Buffer => constructed(0xa0 | n, [inner]);
/** [n] IMPLICIT on a primitive value (e.g. GeneralName dNSName / iPAddress). */
export const implicitPrimitive = (n: number, content: Buffer): Buffer => tlv(0x80 | n, content);

const oidCache = new Map<string, Buffer>();

/** Encodes a dotted OID; results are cached because the same handful are used on every issue. */
export function oid(dotted: string): Buffer {
  let hit = oidCache.get(dotted);
  if (!hit) {
    hit = tlv(TAG.OID, oidContent(dotted));
    oidCache.set(dotted, hit);
  }
  return hit;
}

export function oidContent(dotted: string): Buffer {
  const arcs = dotted.split('.').map((s) => {
    if (!/^\d+$/.test(s)) throw new Error(`bad OID ${dotted}`);
    return BigInt(s);
  });
  if (arcs.length < 2) throw new Error(`bad OID ${dotted}`);
  const out: number[] = [];
  const push = (v: bigint) => {
    const bytes = [Number(v & 0x7fn)];
    for (v >>= 7n; v > 0n; v >>= 7n) bytes.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...bytes);
  };
  push(arcs[0]! * 40n + arcs[1]!);
  for (const a of arcs.slice(2)) push(a);
  return Buffer.from(out);
}

export function oidToString(buf: Buffer, start: number, end: number): string {
  const arcs: string[] = [];
  let v = 0n;
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    v = (v << 7n) | BigInt(b & 0x7f);
    if (!(b & 0x80)) {
      if (arcs.length === 0) {
        const first = v < 80n ? v / 40n : 2n;
        arcs.push(String(first), String(v - first * 40n));
      } else arcs.push(String(v));
      v = 0n;
    }
  }
  return arcs.join('.');
}

/** A non-negative INTEGER from big-endian magnitude bytes, made minimal and kept positive. */
export function uintBytes(magnitude: Buffer): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  let m = magnitude.subarray(i);
  if (m.length === 0) m = Buffer.from([0]);
  if (m[0]! & 0x80) m = Buffer.concat([Buffer.from([0]), m]);
  return tlv(TAG.INTEGER, m);
}

export function smallInt(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) throw new RangeError(`bad small int ${n}`);
  const bytes: number[] = [];
  let v = n;
  do {
    bytes.unshift(v & 0xff);
    v >>>= 8;
  } while (v > 0);
  if (bytes[0]! & 0x80) bytes.unshift(0);
  return tlv(TAG.INTEGER, Buffer.from(bytes));
}

export const utf8 = (s: string): Buffer => tlv(TAG.UTF8_STRING, Buffer.from(s, 'utf8'));
export const octets = (b: Buffer): Buffer => tlv(TAG.OCTET_STRING, b);
export const bool = (v: boolean): Buffer => Buffer.from([TAG.BOOLEAN, 1, v ? 0xff : 0]);

/** BIT STRING with no unused bits (signatures, public keys). */
export const bitString = (b: Buffer): Buffer => constructed(TAG.BIT_STRING, [Buffer.from([0]), b]);

/**
 * A named bit list (KeyUsage): bit 0 is the most significant bit of the first byte; DER drops
 * trailing zero bits and records how many of the last byte are unused.
 */
export function namedBits(bits: number[]): Buffer {
  const top = Math.max(...bits);
  const bytes = Buffer.alloc((top >> 3) + 1);
  for (const b of bits) bytes[b >> 3]! |= 0x80 >> (b & 7);
  const unused = 7 - (top & 7);
  return constructed(TAG.BIT_STRING, [Buffer.from([unused]), bytes]);
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, Zulu. */
export function time(ms: number): Buffer {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  const rest =
    pad(d.getUTCMonth() + 1) + pad(d.getUTCDate()) + pad(d.getUTCHours()) + pad(d.getUTCMinutes()) + pad(d.getUTCSeconds()) + 'Z';
  if (y >= 1950 && y < 2050) return tlv(TAG.UTC_TIME, Buffer.from(pad(y % 100) + rest, 'latin1'));
  return tlv(TAG.GENERALIZED_TIME, Buffer.from(pad(y, 4) + rest, 'latin1'));
}

// ---- reading ----

/** One TLV located in a buffer: content is buf[start, end), the whole TLV is buf[offset, end). */
export interface Tlv {
  tag: number;
  offset: number;
  start: number;
  end: number;
}

export class DerError extends Error {}

/** Reads the TLV at pos; refuses indefinite lengths, non-minimal lengths and overruns. */
export function read(buf: Buffer, pos: number, limit = buf.length): Tlv {
  if (pos + 2 > limit) throw new DerError('truncated DER');
  const tag = buf[pos]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('high tag numbers are not used in certificates');
  let len = buf[pos + 1]!;
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3) throw new DerError('unsupported DER length');
    if (start + n > limit) throw new DerError('truncated DER');
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | buf[start + i]!;
    if (len < 0x80 || (n > 1 && buf[start] === 0)) throw new DerError('non-minimal DER length');
    start += n;
  }
  const end = start + len;
  if (end > limit) throw new DerError('truncated DER');
  return { tag, offset: pos, start, end };
}

/** Reads a TLV and insists on its tag. */
export function expect(buf: Buffer, pos: number, tag: number, limit?: number): Tlv {
  const t = read(buf, pos, limit);
  if (t.tag !== tag) throw new DerError(`expected tag 0x${tag.toString(16)}, found 0x${t.tag.toString(16)}`);
  return t;
}

/** The TLVs directly inside a constructed value. */
export function children(buf: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let pos = parent.start; pos < parent.end; ) {
    const t = read(buf, pos, parent.end);
    out.push(t);
    pos = t.end;
  }
  return out;
}

/** Parses UTCTime / GeneralizedTime in the Zulu, whole-second form DER requires. */
export function readTime(buf: Buffer, t: Tlv): number {
  const s = buf.toString('latin1', t.start, t.end);
  let m: RegExpExecArray | null;
  let year: number;
  if (t.tag === TAG.UTC_TIME && (m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s))) {
    const yy = Number(m[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (t.tag === TAG.GENERALIZED_TIME && (m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s))) {
    year = Number(m[1]);
  } else throw new DerError(`bad time ${JSON.stringify(s)}`);
  return Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}
