import { build } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/**
 * The gate's page scripts, bundled from renderer/gate with esbuild when the gate starts, into
 * memory: `npx tapgate server start` works on a fresh clone with no build step
 * (docs/decisions/0002-gate-pages-bundled-at-start.md).
 */
export interface Asset {
  body: Buffer;
  type: string;
}

const PAGES = ['enrol', 'login', 'tap'] as const;
export type PageScript = (typeof PAGES)[number];

const rendererDir = fileURLToPath(new URL('../../renderer/gate/', import.meta.url));

let bundled: Promise<Map<string, Asset>> | undefined;

/** Bundles once per process; several gates in one test process share the result. */
export function gateAssets(): Promise<Map<string, Asset>> {
  bundled ??= bundle().catch((e) => {
    bundled = undefined;
    throw e;
  });
  return bundled;
}

async function bundle(): Promise<Map<string, Asset>> {
  const result = await build({
    entryPoints: PAGES.map((p) => `${rendererDir}${p}.ts`),
    bundle: true,
    format: 'esm',
    target: 'es2020',
    minify: true,
    write: false,
    outdir: 'out',
    logLevel: 'silent',
    legalComments: 'none',
  });
  const assets = new Map<string, Asset>();
  for (const f of result.outputFiles) {
    const name = f.path.split(/[\\/]/).pop()!;
    assets.set(name, { body: Buffer.from(f.contents), type: 'text/javascript; charset=utf-8' });
  }
  assets.set('gate.css', { body: await readFile(`${rendererDir}gate.css`), type: 'text/css; charset=utf-8' });
  return assets;
}
