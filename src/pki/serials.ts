import { randomFillSync } from 'node:crypto';

/**
 * Certificate serial numbers: 16 random bytes, top bits 01 so the INTEGER is positive and always
 * 16 bytes long (126 random bits; RFC 5280 allows 20 octets, CA/B asks for 64 random bits).
 * Random bytes are drawn 4 KiB at a time: one OpenSSL call per serial costs more than the rest
 * of the serial handling together.
 */
const pool = Buffer.alloc(4096);
let used = pool.length;

export function randomSerial(): Buffer {
  if (used + 16 > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const serial = Buffer.from(pool.subarray(used, used + 16));
  pool.fill(0, used, used + 16); // a copy handed out is not kept around in the pool
  used += 16;
  serial[0] = (serial[0]! & 0x3f) | 0x40;
  return serial;
}
