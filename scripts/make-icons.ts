/**
 * Draws the tray icons (and the app icon) as PNG/ICO files under assets/tray/, with no image
 * library: each icon is a few shapes in a 32-unit square, rasterised with 8×8 supersampling
 * and written by a small PNG encoder. Run: npx tsx scripts/make-icons.ts
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateSync } from 'node:zlib';
import { ICON_STATES } from '../src/tray/tray-icons';
import type { TrayIconState } from '../src/tray/tray-model';

type RGB = [number, number, number];
type Shape = (x: number, y: number) => boolean;
interface Op {
  cut?: boolean;
  shape: Shape;
  /** which colour slot: the glyph, or the state accent (badges, pad) */
  tone?: 'glyph' | 'accent';
}

const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'assets', 'tray');

// ---- shapes in a 32×32 design square
const circle = (cx: number, cy: number, r: number): Shape => (x, y) => (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
const roundRect = (x0: number, y0: number, x1: number, y1: number, r: number): Shape => (x, y) => {
  if (x < x0 || x > x1 || y < y0 || y > y1) return false;
  const dx = Math.max(x0 + r - x, 0, x - (x1 - r));
  const dy = Math.max(y0 + r - y, 0, y - (y1 - r));
  return dx * dx + dy * dy <= r * r;
};
const capsule = (ax: number, ay: number, bx: number, by: number, r: number): Shape => (x, y) => {
  const vx = bx - ax;
  const vy = by - ay;
  const t = Math.max(0, Math.min(1, ((x - ax) * vx + (y - ay) * vy) / (vx * vx + vy * vy)));
  return (x - ax - t * vx) ** 2 + (y - ay - t * vy) ** 2 <= r * r;
};

// ---- the glyph: a security key (body, touch pad, key-ring slot); badges sit bottom-right
const BODY: [number, number, number, number, number] = [7, 2, 21, 30, 4.5];
const PAD = { cx: 14, cy: 11.5, r: 4 };
const BADGE = { cx: 24, cy: 24, r: 7.5, gap: 2.2 };
const STROKE = 2.6;

function bodyFilled(): Op[] {
  return [
    { shape: roundRect(...BODY) },
    { cut: true, shape: circle(PAD.cx, PAD.cy, PAD.r) },
    { cut: true, shape: roundRect(12, 22, 16, 25.5, 1) },
  ];
}

function bodyOutline(): Op[] {
  const [x0, y0, x1, y1, r] = BODY;
  return [
    { shape: roundRect(x0, y0, x1, y1, r) },
    { cut: true, shape: roundRect(x0 + STROKE, y0 + STROKE, x1 - STROKE, y1 - STROKE, r - STROKE) },
    { shape: circle(PAD.cx, PAD.cy, PAD.r) },
    { cut: true, shape: circle(PAD.cx, PAD.cy, PAD.r - 2) },
  ];
}

function badge(contents: Op[]): Op[] {
  return [{ cut: true, shape: circle(BADGE.cx, BADGE.cy, BADGE.r + BADGE.gap) }, { shape: circle(BADGE.cx, BADGE.cy, BADGE.r), tone: 'accent' }, ...contents];
}

function scene(state: TrayIconState): Op[] {
  switch (state) {
    case 'idle':
      return bodyOutline();
    case 'verified':
      return bodyFilled();
    case 'lapsing': // filled key + a clock
      return [
        ...bodyFilled(),
        ...badge([
          { cut: true, shape: circle(BADGE.cx, BADGE.cy, BADGE.r - 1.8) },
          { shape: capsule(BADGE.cx, BADGE.cy, BADGE.cx, BADGE.cy - 3.6, 1), tone: 'accent' },
          { shape: capsule(BADGE.cx, BADGE.cy, BADGE.cx + 2.8, BADGE.cy + 1.2, 1), tone: 'accent' },
        ]),
      ];
    case 'waiting': // outlined key, the pad pressed, with a ring around it: "touch here"
      return [
        ...bodyOutline(),
        { shape: circle(PAD.cx, PAD.cy, PAD.r), tone: 'accent' },
        { shape: roundRect(11.2, 19.5, 16.8, 22, 1.2), tone: 'accent' },
        { shape: roundRect(11.2, 24, 16.8, 26.5, 1.2), tone: 'accent' },
      ];
    case 'error': // outlined key + "!"
      return [
        ...bodyOutline(),
        ...badge([
          { cut: true, shape: capsule(BADGE.cx, BADGE.cy - 3.8, BADGE.cx, BADGE.cy + 0.8, 1.25) },
          { cut: true, shape: circle(BADGE.cx, BADGE.cy + 3.7, 1.35) },
        ]),
      ];
  }
}

// ---- rasteriser: RGBA, straight alpha
function render(ops: Op[], size: number, colours: { glyph: RGB; accent: RGB }): Uint8Array {
  const S = 8;
  const px = new Uint8Array(size * size * 4);
  const scale = 32 / size;
  for (let py = 0; py < size; py++) {
    for (let pxi = 0; pxi < size; pxi++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let a = 0;
      for (let sy = 0; sy < S; sy++) {
        for (let sx = 0; sx < S; sx++) {
          const x = (pxi + (sx + 0.5) / S) * scale;
          const y = (py + (sy + 0.5) / S) * scale;
          let c: RGB | undefined;
          for (const op of ops) if (op.shape(x, y)) c = op.cut ? undefined : colours[op.tone ?? 'glyph'];
          if (c) {
            r += c[0];
            g += c[1];
            b += c[2];
            a++;
          }
        }
      }
      const i = (py * size + pxi) * 4;
      if (a) {
        px[i] = Math.round(r / a);
        px[i + 1] = Math.round(g / a);
        px[i + 2] = Math.round(b / a);
        px[i + 3] = Math.round((a / (S * S)) * 255);
      }
    }
  }
  return px;
}

function png(rgba: Uint8Array, w: number, h: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA
  const raw = Buffer.alloc((w * 4 + 1) * h);
  for (let y = 0; y < h; y++) {
    raw[y * (w * 4 + 1)] = 0;
    raw.set(rgba.subarray(y * w * 4, (y + 1) * w * 4), y * (w * 4 + 1) + 1);
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

/** An .ico whose frames are PNGs (Windows Vista and later read them). */
function ico(frames: { size: number; data: Buffer }[]): Buffer {
  const header = Buffer.alloc(6);
  header.writeUInt16LE(0, 0);
  header.writeUInt16LE(1, 2);
  header.writeUInt16LE(frames.length, 4);
  let offset = 6 + 16 * frames.length;
  const dir = frames.map((f) => {
    const e = Buffer.alloc(16);
    e[0] = f.size >= 256 ? 0 : f.size;
    e[1] = f.size >= 256 ? 0 : f.size;
    e.writeUInt16LE(1, 4);
    e.writeUInt16LE(32, 6);
    e.writeUInt32LE(f.data.length, 8);
    e.writeUInt32LE(offset, 12);
    offset += f.data.length;
    return e;
  });
  return Buffer.concat([header, ...dir, ...frames.map((f) => f.data)]);
}

const hex = (s: string): RGB => [parseInt(s.slice(1, 3), 16), parseInt(s.slice(3, 5), 16), parseInt(s.slice(5, 7), 16)];
const ACCENT: Record<TrayIconState, RGB> = { idle: hex('#8b95a3'), verified: hex('#16a34a'), lapsing: hex('#d97706'), waiting: hex('#7c3aed'), error: hex('#dc2626') };
const BLACK: RGB = [0, 0, 0];

function write(rel: string, data: Buffer): void {
  const p = join(OUT, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, data);
}

/** Linux and Windows: coloured states; idle follows the panel (grey on Linux, light/dark on Windows). */
function coloured(state: TrayIconState, idleGlyph: RGB): { glyph: RGB; accent: RGB } {
  if (state === 'idle') return { glyph: idleGlyph, accent: idleGlyph };
  if (state === 'waiting' || state === 'error') return { glyph: idleGlyph, accent: ACCENT[state] };
  return { glyph: ACCENT[state], accent: ACCENT[state] };
}

const previews: { label: string; rgba: Uint8Array; size: number }[] = [];
for (const state of ICON_STATES) {
  const ops = scene(state);
  // macOS template images: black + alpha only (the menu bar tints them)
  for (const [size, suffix] of [[16, ''], [32, '@2x']] as const) {
    const rgba = render(ops, size, { glyph: BLACK, accent: BLACK });
    for (let i = 0; i < rgba.length; i += 4) if (rgba[i] || rgba[i + 1] || rgba[i + 2]) throw new Error('template image must be black');
    write(`mac/tray-${state}Template${suffix}.png`, png(rgba, size, size));
  }
  const linuxIdle = hex('#9aa3ad');
  for (const [size, suffix] of [[32, ''], [64, '@2x']] as const) write(`linux/tray-${state}${suffix}.png`, png(render(ops, size, coloured(state, linuxIdle)), size, size));
  previews.push({ label: state, rgba: render(ops, 64, coloured(state, linuxIdle)), size: 64 });
  for (const [variant, glyph] of [['light', hex('#2b3340')], ['dark', hex('#f1f3f5')]] as const) {
    write(`win/tray-${state}-${variant}.ico`, ico([16, 20, 24, 32, 48].map((s) => ({ size: s, data: png(render(ops, s, coloured(state, glyph)), s, s) }))));
  }
}

// app icon: the verified key, white, on a rounded square
function appIcon(size: number): Uint8Array {
  const bg: Op[] = [{ shape: roundRect(0.5, 0.5, 31.5, 31.5, 7), tone: 'accent' }];
  const key = scene('verified').map((op) => ({ ...op, shape: ((x: number, y: number) => op.shape((x - 16) / 0.72 + 14, (y - 16) / 0.72 + 16)) as Shape, tone: 'glyph' as const }));
  // cuts of the key must not cut the background: draw the key's holes in the background colour
  const ops: Op[] = [...bg, ...key.map((op) => (op.cut ? { shape: op.shape, tone: 'accent' as const } : op))];
  return render(ops, size, { glyph: [255, 255, 255], accent: hex('#1f4fd1') });
}
write('app/icon.png', png(appIcon(1024), 1024, 1024));
write('app/icon.ico', ico([16, 24, 32, 48, 64, 128, 256].map((s) => ({ size: s, data: png(appIcon(s), s, s) }))));

// a contact sheet to look at: every state on a light and a dark panel, scaled ×2
const cell = 150;
const W = cell * previews.length;
const H = 2 * cell;
const sheet = new Uint8Array(W * H * 4);
const panels: RGB[] = [hex('#f3f4f6'), hex('#1f2329')];
for (let row = 0; row < 2; row++) {
  for (let y = row * cell; y < (row + 1) * cell; y++) for (let x = 0; x < W; x++) sheet.set([...panels[row]!, 255], (y * W + x) * 4);
  previews.forEach((p, col) => {
    const ox = col * cell + (cell - 2 * p.size) / 2;
    const oy = row * cell + (cell - 2 * p.size) / 2;
    for (let y = 0; y < 2 * p.size; y++) {
      for (let x = 0; x < 2 * p.size; x++) {
        const si = ((y >> 1) * p.size + (x >> 1)) * 4;
        const a = p.rgba[si + 3]! / 255;
        const di = ((oy + y) * W + ox + x) * 4;
        for (let c = 0; c < 3; c++) sheet[di + c] = Math.round(p.rgba[si + c]! * a + sheet[di + c]! * (1 - a));
      }
    }
  });
}
const docs = join(OUT, '..', '..', 'docs', 'screenshots');
mkdirSync(docs, { recursive: true });
writeFileSync(join(docs, 'tray-icons.png'), png(sheet, W, H));
console.log(`icons written to ${OUT} (states: ${ICON_STATES.join(', ')}); preview: docs/screenshots/tray-icons.png`);
