/**
 * A bounded load generator, run in its own process so it does not share an event loop with the
 * servers it measures. Prints one JSON line: {requests, errors, seconds, rps, p50Us, p99Us, mbps}.
 *   node --import tsx bench/load.ts '<json LoadSpec>'
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';

export interface LoadSpec {
  url: string;
  concurrency: number;
  /** stop after this many seconds or requests, whichever comes first */
  seconds: number;
  maxRequests: number;
  tls: { ca: string; cert?: string; key?: string };
  /** read the whole body and count bytes (bulk streams) */
  bulk?: boolean;
}

export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  p50Us: number;
  p99Us: number;
  mbps: number;
  firstError?: string;
}

async function run(spec: LoadSpec): Promise<LoadResult> {
  const dispatcher = new Agent({ connections: spec.concurrency, pipelining: 1, keepAliveTimeout: 30_000, connect: { ca: spec.tls.ca, cert: spec.tls.cert, key: spec.tls.key } });
  const lat: number[] = [];
  let errors = 0;
  let bytes = 0;
  let sent = 0;
  let firstError: string | undefined;
  const start = process.hrtime.bigint();
  const deadline = Number(start) + spec.seconds * 1e9;
  const one = async () => {
    while (sent < spec.maxRequests && Number(process.hrtime.bigint()) < deadline) {
      sent++;
      const t0 = process.hrtime.bigint();
      try {
        const res = await request(spec.url, { dispatcher });
        if (spec.bulk) for await (const chunk of res.body) bytes += (chunk as Buffer).length;
        else bytes += (await res.body.arrayBuffer()).byteLength;
        if (res.statusCode >= 400) {
          errors++;
          firstError ??= `HTTP ${res.statusCode}`;
        }
      } catch (e) {
        errors++;
        firstError ??= (e as Error).message;
      }
      lat.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
  };
  await Promise.all(Array.from({ length: spec.concurrency }, one));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await dispatcher.close();
  lat.sort((a, b) => a - b);
  const pct = (p: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(lat.length * p))]! : 0);
  return { requests: lat.length, errors, seconds, rps: lat.length / seconds, p50Us: pct(0.5), p99Us: pct(0.99), mbps: bytes / 1e6 / seconds, firstError };
}

/** The middle value (the upper one of an even count): the benches' figure over rounds. */
export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Runs one load in a child process and returns its result. */
export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), [JSON.stringify(spec)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`load generator exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as LoadResult);
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const spec = JSON.parse(process.argv[2]!) as LoadSpec;
  process.stdout.write(`${JSON.stringify(await run(spec))}\n`);
  process.exit(0);
}
