import { build as esbuild, type BuildOptions } from 'esbuild';
import { resolve } from 'node:path';
import { defineConfig, type InlineConfig, type Plugin, type UserConfig } from 'vite';

/**
 * `vite build`: the tray's pages (renderer/status, renderer/tap) into dist/renderer, with
 * relative URLs so they load from file:// in Electron and from the status server over HTTP;
 * then the Electron main process and preload into dist-electron/*.cjs with esbuild.
 * (renderer/gate belongs to the gate, which bundles and serves its own pages.)
 */
const root = resolve(import.meta.dirname, 'renderer');

/** Native modules stay outside the bundle (electron-builder rebuilds them and unpacks them from asar). */
const NATIVE = ['electron', 'better-sqlite3', 'pg-native', 'bufferutil', 'utf-8-validate', 'cpu-features', 'ssh2'];

/** esbuild options for the Electron main process and preload (exported for the bundle's own test). */
export function electronBuilds(outDir = resolve(import.meta.dirname, 'dist-electron')): BuildOptions[] {
  const common: BuildOptions = {
    bundle: true,
    platform: 'node',
    target: 'node22', // Electron 38's Node
    format: 'cjs',
    sourcemap: 'linked',
    external: NATIVE,
    logLevel: 'warning',
    tsconfig: resolve(import.meta.dirname, 'electron', 'tsconfig.json'),
    // src/ is ESM; the few import.meta.url uses get the bundle's own file URL
    define: { 'import.meta.url': '__tapgateImportMetaUrl' },
    banner: { js: "const __tapgateImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  };
  return [
    { ...common, entryPoints: [resolve(import.meta.dirname, 'electron', 'main.ts')], outfile: resolve(outDir, 'main.cjs') },
    // a sandboxed preload may require only 'electron': no banner, nothing external but electron
    { ...common, define: {}, banner: {}, external: ['electron'], entryPoints: [resolve(import.meta.dirname, 'electron', 'preload.ts')], outfile: resolve(outDir, 'preload.cjs') },
  ];
}

function electronBundles(): Plugin {
  return {
    name: 'tapgate-electron-bundles',
    apply: 'build',
    async closeBundle() {
      await Promise.all(electronBuilds().map((o) => esbuild(o)));
    },
  };
}

function rendererOptions(outDir = resolve(import.meta.dirname, 'dist', 'renderer')): UserConfig {
  return {
    root,
    base: './',
    logLevel: 'warn',
    build: {
      outDir,
      emptyOutDir: true,
      target: 'chrome120',
      sourcemap: true,
      rollupOptions: { input: { status: resolve(root, 'status', 'index.html'), tap: resolve(root, 'tap', 'index.html') } },
    },
  };
}

/** The renderer part alone, into another directory (the UI tests build their own copy). */
export function rendererConfig(outDir?: string): InlineConfig {
  return { ...rendererOptions(outDir), configFile: false };
}

export default defineConfig({ ...rendererOptions(), plugins: [electronBundles()] });
