import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Can the tray run here? It needs Electron's binary (npm's electron package downloads it at
 * install time; ELECTRON_SKIP_BINARY_DOWNLOAD=1 or no network leaves it out) and, on Linux, a
 * display. When it cannot, `npm start` and `tapgate open` run the same agent headless instead.
 */
export type ElectronCheck = { ok: true; binary: string } | { ok: false; reason: string };

export interface RuntimeProbe {
  /** the npm `electron` package directory, if installed */
  packageDir: string | undefined;
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  exists(path: string): boolean;
  read(path: string): string | undefined;
}

export function checkElectron(p: RuntimeProbe): ElectronCheck {
  if (!p.packageDir) return { ok: false, reason: 'the electron npm package is not installed' };
  const relative = p.read(join(p.packageDir, 'path.txt'))?.trim();
  const distDir = p.env.ELECTRON_OVERRIDE_DIST_PATH || join(p.packageDir, 'dist');
  if (!relative && !p.env.ELECTRON_OVERRIDE_DIST_PATH) {
    const why = p.env.ELECTRON_SKIP_BINARY_DOWNLOAD ? ' (ELECTRON_SKIP_BINARY_DOWNLOAD is set)' : '';
    return { ok: false, reason: `no Electron binary: the electron package was installed without its download${why}` };
  }
  const binary = join(distDir, relative || 'electron');
  if (!p.exists(binary)) return { ok: false, reason: `no Electron binary at ${binary}` };
  if (p.platform === 'linux' && !p.env.DISPLAY && !p.env.WAYLAND_DISPLAY) return { ok: false, reason: 'no display (neither DISPLAY nor WAYLAND_DISPLAY is set)' };
  return { ok: true, binary };
}

/** The real probe for this checkout. */
export function probeHere(repoRoot: string): RuntimeProbe {
  const dir = join(repoRoot, 'node_modules', 'electron');
  return {
    packageDir: existsSync(join(dir, 'package.json')) ? dir : undefined,
    env: process.env,
    platform: process.platform,
    exists: existsSync,
    read: (path) => {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
    },
  };
}
