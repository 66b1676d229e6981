import assert from 'node:assert/strict';
import { test } from 'node:test';
import { channelErrorAndClose, WsFrameTracker } from './websocket-frames';

const frame = (len: number, masked = false): Buffer => {
  const ext = len < 126 ? [len | (masked ? 0x80 : 0)] : len < 65536 ? [126 | (masked ? 0x80 : 0), len >> 8, len & 0xff] : [127 | (masked ? 0x80 : 0), 0, 0, 0, 0, (len >>> 24) & 0xff, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff];
  return Buffer.concat([Buffer.from([0x82, ...ext]), masked ? Buffer.alloc(4) : Buffer.alloc(0), Buffer.alloc(len, 1)]);
};

test('WsFrameTracker follows frame boundaries across any chunking', () => {
  const stream = Buffer.concat([frame(5), frame(300), frame(70_000), frame(0), frame(9, true)]);
  const ends = new Set<number>();
  let at = 0;
  for (const f of [frame(5), frame(300), frame(70_000), frame(0), frame(9, true)]) ends.add((at += f.length));
  for (const size of [1, 3, 7, 1000, stream.length]) {
    const t = new WsFrameTracker();
    for (let i = 0; i < stream.length; i += size) {
      const end = Math.min(i + size, stream.length);
      t.observe(stream.subarray(i, end));
      assert.equal(t.atBoundary, ends.has(end), `chunk ${size} at ${end}`);
    }
  }
});

test('channelErrorAndClose is an error-channel binary frame then a 1000 close frame', () => {
  const b = channelErrorAndClose({ kind: 'Status', message: 'bye' });
  assert.equal(b[0], 0x82);
  const len = b[1]!;
  assert.equal(b[2], 3);
  assert.deepEqual(JSON.parse(b.subarray(3, 2 + len).toString()), { kind: 'Status', message: 'bye' });
  assert.deepEqual([...b.subarray(2 + len)], [0x88, 2, 0x03, 0xe8]);
  const t = new WsFrameTracker();
  t.observe(b);
  assert.equal(t.atBoundary, true);
});
