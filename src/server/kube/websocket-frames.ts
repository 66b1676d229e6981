/**
 * Just enough of RFC 6455 to end a relayed Kubernetes channel session (v4/v5.channel.k8s.io)
 * with a message: follow frame boundaries in the server-to-client byte stream, then write an
 * error-channel frame carrying a Status, and a close frame.
 */

/** Subprotocols whose channel 3 carries a JSON metav1.Status. */
export const STATUS_CHANNEL_PROTOCOLS = new Set(['v4.channel.k8s.io', 'v5.channel.k8s.io']);

const ERROR_CHANNEL = 3;

/** Follows frame boundaries; `atBoundary` is true between frames. */
export class WsFrameTracker {
  private remaining = 0;
  private readonly header = Buffer.alloc(14);
  private headerLen = 0;

  get atBoundary(): boolean {
    return this.remaining === 0 && this.headerLen === 0;
  }

  observe(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - i);
        this.remaining -= take;
        i += take;
        continue;
      }
      this.header[this.headerLen++] = chunk[i++]!;
      const need = this.headerNeeds();
      if (need !== undefined && this.headerLen === need) {
        this.remaining = this.payloadLength();
        this.headerLen = 0;
      }
    }
  }

  /** The full header length once its first two bytes are known. */
  private headerNeeds(): number | undefined {
    if (this.headerLen < 2) return undefined;
    const len7 = this.header[1]! & 0x7f;
    const masked = (this.header[1]! & 0x80) !== 0;
    return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
  }

  private payloadLength(): number {
    const len7 = this.header[1]! & 0x7f;
    if (len7 === 126) return this.header.readUInt16BE(2);
    if (len7 === 127) return Number(this.header.readBigUInt64BE(2));
    return len7;
  }
}

function frame(opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | opcode, n]) : n < 65536 ? Buffer.from([0x80 | opcode, 126, n >> 8, n & 0xff]) : undefined;
  if (!head) throw new RangeError('status message too long for one frame');
  return Buffer.concat([head, payload]);
}

/** An error-channel message with `status`, then a normal close: kubectl prints the Status message. */
export function channelErrorAndClose(status: object): Buffer {
  const json = Buffer.from(JSON.stringify(status));
  const data = frame(0x2, Buffer.concat([Buffer.from([ERROR_CHANNEL]), json]));
  const close = frame(0x8, Buffer.from([0x03, 0xe8])); // 1000: normal closure
  return Buffer.concat([data, close]);
}
