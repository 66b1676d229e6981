import type { TrayIconState } from './tray-model';

/**
 * Which image file shows a tray state, per platform (files made by scripts/make-icons.ts):
 * - macOS: template images (black + alpha) so the menu bar tints them; `…Template.png` with an
 *   `@2x` sibling that Electron picks up by name;
 * - Windows: .ico with 16–32 px frames, a light glyph for a dark taskbar and a dark one for light;
 * - Linux: coloured PNGs (AppIndicator scales them; 32 px with a 64 px sibling).
 */
export const ICON_STATES: readonly TrayIconState[] = ['idle', 'verified', 'lapsing', 'waiting', 'error'];

export function trayIconFile(state: TrayIconState, platform: NodeJS.Platform, darkTaskbar: boolean): string {
  if (platform === 'darwin') return `mac/tray-${state}Template.png`;
  if (platform === 'win32') return `win/tray-${state}-${darkTaskbar ? 'dark' : 'light'}.ico`;
  return `linux/tray-${state}.png`;
}

/** Every file trayIconFile can name, so a test can check that they all exist. */
export function allTrayIconFiles(): string[] {
  const files = new Set<string>();
  for (const s of ICON_STATES) {
    for (const p of ['darwin', 'win32', 'linux'] as const) for (const dark of [false, true]) files.add(trayIconFile(s, p, dark));
    files.add(`mac/tray-${s}Template@2x.png`);
    files.add(`linux/tray-${s}@2x.png`);
  }
  return [...files].sort();
}
