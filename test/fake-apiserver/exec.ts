/**
 * exec / attach over the Kubernetes WebSocket channel protocols (v1..v5.channel.k8s.io),
 * with a tiny command interpreter and a per-pod file system in a temp directory.
 */
import { spawn } from 'node:child_process';
import { promises as fs, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { WebSocket } from 'ws';

export const CHANNEL_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;
const CLOSE = 255;

// ---------------------------------------------------------------- stdin queue

export class StdinQueue {
  private chunks: Buffer[] = [];
  private ended = false;
  private waiters: (() => void)[] = [];
  bytes = 0;

  push(b: Buffer): void {
    if (this.ended) return;
    this.bytes += b.length;
    this.chunks.push(b);
    this.wake();
  }
  end(): void {
    this.ended = true;
    this.wake();
  }
  get isEnded(): boolean {
    return this.ended;
  }
  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  /** Next chunk, or null at EOF (or when aborted). */
  async read(signal?: AbortSignal): Promise<Buffer | null> {
    for (;;) {
      if (this.chunks.length) return this.chunks.shift()!;
      if (this.ended || signal?.aborted) return null;
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        signal?.addEventListener('abort', () => resolve(), { once: true });
      });
    }
  }
  async readAll(signal?: AbortSignal): Promise<Buffer> {
    const out: Buffer[] = [];
    for (let c; (c = await this.read(signal)); ) out.push(c);
    return Buffer.concat(out);
  }
  static from(b: Buffer): StdinQueue {
    const q = new StdinQueue();
    if (b.length) q.push(b);
    q.end();
    return q;
  }
}

// ---------------------------------------------------------------- pod file system

export class PodFs {
  constructor(readonly root: string, hostname: string) {
    if (!existsSync(root)) {
      mkdirSync(path.join(root, 'tmp'), { recursive: true });
      mkdirSync(path.join(root, 'etc'), { recursive: true });
      mkdirSync(path.join(root, 'root'), { recursive: true });
      writeFileSync(path.join(root, 'etc', 'hostname'), `${hostname}\n`);
    }
  }
  /** Host path of an absolute or cwd-relative pod path (never escapes the root). */
  map(p: string, cwd = '/'): string {
    const abs = path.posix.normalize(path.posix.isAbsolute(p) ? p : path.posix.join(cwd, p));
    return path.join(this.root, abs);
  }
}

// ---------------------------------------------------------------- interpreter

export interface ExecCtx {
  fs: PodFs;
  env: Record<string, string>;
  cwd: string;
  stdin: StdinQueue;
  out: (b: Buffer | string) => void;
  err: (b: Buffer | string) => void;
  signal: AbortSignal;
  tty: boolean;
}

export class NotFoundError extends Error {}

type Tok = { t: 'w'; v: string } | { t: 'op'; v: string };

function tokenize(s: string, env: Record<string, string>, lastCode: () => number): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  let cur: string | null = null;
  const expand = (name: string) => (name === '?' ? String(lastCode()) : env[name] ?? '');
  const push = () => {
    if (cur !== null) toks.push({ t: 'w', v: cur });
    cur = null;
  };
  while (i < s.length) {
    const c = s[i]!;
    if (c === ' ' || c === '\t' || c === '\n') {
      push();
      i++;
      if (c === '\n') toks.push({ t: 'op', v: ';' });
    } else if (c === "'") {
      const j = s.indexOf("'", i + 1);
      cur = (cur ?? '') + s.slice(i + 1, j < 0 ? s.length : j);
      i = j < 0 ? s.length : j + 1;
    } else if (c === '"') {
      i++;
      let v = '';
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length && '"\\$`'.includes(s[i + 1]!)) {
          v += s[i + 1];
          i += 2;
        } else if (s[i] === '$') {
          const m = /^\$(\?|\{(\w+)\}|(\w+))/.exec(s.slice(i));
          if (m) {
            v += expand(m[1] === '?' ? '?' : (m[2] ?? m[3])!);
            i += m[0].length;
          } else v += s[i++];
        } else v += s[i++];
      }
      i++;
      cur = (cur ?? '') + v;
    } else if (c === '\\' && i + 1 < s.length) {
      cur = (cur ?? '') + s[i + 1];
      i += 2;
    } else if (c === '$') {
      const m = /^\$(\?|\{(\w+)\}|(\w+))/.exec(s.slice(i));
      if (m) {
        cur = (cur ?? '') + expand(m[1] === '?' ? '?' : (m[2] ?? m[3])!);
        i += m[0].length;
      } else {
        cur = (cur ?? '') + c;
        i++;
      }
    } else if (c === '#' && cur === null) {
      while (i < s.length && s[i] !== '\n') i++;
    } else {
      const op = /^(&&|\|\||2>&1|1>&2|>&2|2>>|2>|>>|>|<|;|\|)/.exec(s.slice(i));
      if (op) {
        push();
        toks.push({ t: 'op', v: op[1]! });
        i += op[1]!.length;
      } else {
        cur = (cur ?? '') + c;
        i++;
      }
    }
  }
  push();
  return toks;
}

interface Stage {
  argv: string[];
  stdoutFile?: { path: string; append: boolean };
  stderrFile?: { path: string; append: boolean } | 'stdout';
  stdinFile?: string;
  stdoutToStderr?: boolean;
}

/** Run a shell script (sh -c). Returns the exit code. */
export async function runScript(script: string, ctx: ExecCtx): Promise<number> {
  let last = 0;
  const toks = tokenize(script, ctx.env, () => last);
  // split into [pipeline, connector] items
  type Item = { stages: Stage[]; conn: string };
  const items: Item[] = [];
  let stages: Stage[] = [];
  let stage: Stage = { argv: [] };
  for (let i = 0; i < toks.length; i++) {
    const tk = toks[i]!;
    if (tk.t === 'w') {
      stage.argv.push(tk.v);
      continue;
    }
    switch (tk.v) {
      case '|':
        stages.push(stage);
        stage = { argv: [] };
        break;
      case '>':
      case '>>':
        stage.stdoutFile = { path: (toks[++i] as Tok | undefined)?.v ?? '', append: tk.v === '>>' };
        break;
      case '2>':
      case '2>>':
        stage.stderrFile = { path: (toks[++i] as Tok | undefined)?.v ?? '', append: tk.v === '2>>' };
        break;
      case '2>&1':
        stage.stderrFile = 'stdout';
        break;
      case '>&2':
      case '1>&2':
        stage.stdoutToStderr = true;
        break;
      case '<':
        stage.stdinFile = (toks[++i] as Tok | undefined)?.v;
        break;
      default: // ; && ||
        stages.push(stage);
        items.push({ stages, conn: tk.v });
        stages = [];
        stage = { argv: [] };
    }
  }
  stages.push(stage);
  items.push({ stages, conn: ';' });

  let prevConn = ';';
  for (const it of items) {
    if (it.stages.every((s) => !s.argv.length)) {
      prevConn = it.conn;
      continue;
    }
    if ((prevConn === '&&' && last !== 0) || (prevConn === '||' && last === 0)) {
      prevConn = it.conn;
      continue;
    }
    prevConn = it.conn;
    const first = it.stages[0]!;
    if (first.argv[0] === 'exit' && it.stages.length === 1) {
      throw new ExitSignal(first.argv[1] !== undefined ? Number(first.argv[1]) || 0 : last);
    }
    if (first.argv[0] === 'cd' && it.stages.length === 1) {
      const dest = first.argv[1] ?? '/root';
      const abs = path.posix.normalize(path.posix.isAbsolute(dest) ? dest : path.posix.join(ctx.cwd, dest));
      if (existsSync(ctx.fs.map(abs))) {
        ctx.cwd = abs;
        last = 0;
      } else {
        ctx.err(`sh: cd: can't cd to ${dest}: No such file or directory\n`);
        last = 2;
      }
      continue;
    }
    last = await runPipeline(it.stages, ctx);
  }
  return last;
}

export class ExitSignal extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

async function runPipeline(stages: Stage[], ctx: ExecCtx): Promise<number> {
  let input: StdinQueue = ctx.stdin;
  let code = 0;
  for (let i = 0; i < stages.length; i++) {
    const st = stages[i]!;
    const isLast = i === stages.length - 1;
    const captured: Buffer[] = [];
    const toFile: Buffer[] = [];
    const toErrFile: Buffer[] = [];
    let out: ExecCtx['out'] = isLast ? ctx.out : (b) => captured.push(Buffer.from(b));
    if (st.stdoutFile) out = (b) => toFile.push(Buffer.from(b));
    else if (st.stdoutToStderr) out = ctx.err;
    let err: ExecCtx['err'] = ctx.err;
    if (st.stderrFile === 'stdout') err = out;
    else if (st.stderrFile) err = st.stderrFile.path === '/dev/null' ? () => {} : (b) => toErrFile.push(Buffer.from(b));
    let stdin = input;
    if (st.stdinFile) {
      try {
        stdin = StdinQueue.from(await fs.readFile(ctx.fs.map(st.stdinFile, ctx.cwd)));
      } catch {
        ctx.err(`sh: can't open ${st.stdinFile}: no such file\n`);
        return 1;
      }
    }
    try {
      code = await runCommand(st.argv, { ...ctx, stdin, out, err });
    } catch (e) {
      if (e instanceof NotFoundError) {
        ctx.err(`sh: ${st.argv[0]}: not found\n`);
        code = 127;
      } else throw e;
    }
    const writeTo = async (f: { path: string; append: boolean }, data: Buffer[]) => {
      if (f.path === '/dev/null') return;
      const p = ctx.fs.map(f.path, ctx.cwd);
      try {
        if (f.append) await fs.appendFile(p, Buffer.concat(data));
        else await fs.writeFile(p, Buffer.concat(data));
      } catch {
        ctx.err(`sh: can't create ${f.path}: nonexistent directory\n`);
        code = 1;
      }
    };
    if (st.stdoutFile) await writeTo(st.stdoutFile, toFile);
    if (st.stderrFile && st.stderrFile !== 'stdout') await writeTo(st.stderrFile, toErrFile);
    input = StdinQueue.from(Buffer.concat(captured));
  }
  return code;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}

/** Interactive shell: runs stdin line by line. */
async function interactiveShell(ctx: ExecCtx): Promise<number> {
  let buf = '';
  let last = 0;
  const prompt = () => ctx.tty && ctx.out('/ # ');
  prompt();
  for (let c; (c = await ctx.stdin.read(ctx.signal)); ) {
    buf += c.toString('utf8');
    if (ctx.tty) ctx.out(c.toString('utf8').replace(/\r/g, '\r\n'));
    let nl: number;
    while ((nl = buf.search(/[\r\n]/)) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        last = await runScript(line, { ...ctx, stdin: StdinQueue.from(Buffer.alloc(0)) });
      } catch (e) {
        if (e instanceof ExitSignal) return e.code;
        throw e;
      }
      prompt();
    }
  }
  return last;
}

async function tar(args: string[], ctx: ExecCtx): Promise<number> {
  let mode: 'c' | 'x' | 't' | null = null;
  let verbose = false;
  let cDir: string | null = null;
  const files: string[] = [];
  const extra: string[] = [];
  const entries: { dir: string; file: string }[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-C' || a === '--directory') {
      cDir = args[++i] ?? '/';
    } else if (a.startsWith('--directory=')) {
      cDir = a.slice('--directory='.length);
    } else if (a === '-f' || a === '--file') {
      i++; // only "-" (stdin/stdout) is supported
    } else if (a.startsWith('--')) {
      if (['--no-same-permissions', '--no-same-owner', '--touch', '--overwrite'].includes(a)) extra.push(a);
    } else if ((i === 0 && /^[a-zA-Z]+$/.test(a)) || /^-[a-zA-Z]+$/.test(a)) {
      const letters = a.replace(/^-/, '');
      for (let k = 0; k < letters.length; k++) {
        const l = letters[k]!;
        if (l === 'c' || l === 'x' || l === 't') mode = l;
        else if (l === 'v') verbose = true;
        else if (l === 'm') extra.push('-m');
        else if (l === 'f') {
          if (k === letters.length - 1) i++; // file argument follows
        } else if (l === 'C') {
          cDir = args[++i] ?? '/';
        }
      }
    } else {
      files.push(a);
      entries.push({ dir: cDir ?? ctx.cwd, file: a });
    }
  }
  if (!mode) {
    ctx.err('tar: You must specify one of the \'-Acdtrux\', \'--delete\' or \'--test-label\' options\n');
    return 2;
  }
  const hostArgs: string[] = [];
  if (mode === 'c') {
    if (!entries.length) {
      ctx.err('tar: Cowardly refusing to create an empty archive\n');
      return 2;
    }
    hostArgs.push('-c', '-f', '-');
    for (const e of entries) {
      if (path.posix.isAbsolute(e.file)) hostArgs.push('-C', ctx.fs.root, path.posix.normalize(e.file).replace(/^\/+/, '') || '.');
      else hostArgs.push('-C', ctx.fs.map(e.dir, ctx.cwd), path.posix.normalize(e.file));
    }
  } else {
    hostArgs.push(mode === 'x' ? '-x' : '-t', '-f', '-', '-C', ctx.fs.map(cDir ?? ctx.cwd, ctx.cwd), '--no-same-owner', ...extra.filter((x) => x !== '--no-same-owner'));
    hostArgs.push(...files);
  }
  if (verbose) hostArgs.push('-v');
  return new Promise<number>((resolve) => {
    const child = spawn('tar', hostArgs, { stdio: ['pipe', 'pipe', 'pipe'] });
    const onAbort = () => child.kill('SIGKILL');
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (d: Buffer) => ctx.out(d));
    child.stderr.on('data', (d: Buffer) => ctx.err(d.toString('utf8').split(ctx.fs.root).join('')));
    child.stdin.on('error', () => {});
    child.on('error', (e) => {
      ctx.err(`tar: ${e.message}\n`);
      resolve(2);
    });
    child.on('close', (c) => {
      ctx.signal.removeEventListener('abort', onAbort);
      resolve(c ?? 2);
    });
    if (mode === 'c') child.stdin.end();
    else
      void (async () => {
        for (let c; (c = await ctx.stdin.read(ctx.signal)); ) {
          if (!child.stdin.write(c)) await new Promise((r) => child.stdin.once('drain', r));
        }
        child.stdin.end();
      })();
  });
}

/** Run one command. Throws NotFoundError for unknown commands. */
export async function runCommand(argv: string[], ctx: ExecCtx): Promise<number> {
  const [cmd0, ...args] = argv;
  if (!cmd0) return 0;
  const cmd = cmd0.replace(/^\/(usr\/)?(s?bin)\//, '');
  switch (cmd) {
    case 'sh':
    case 'bash':
    case 'ash':
    case 'dash': {
      const ci = args.indexOf('-c');
      if (ci >= 0) {
        try {
          return await runScript(args[ci + 1] ?? '', ctx);
        } catch (e) {
          if (e instanceof ExitSignal) return e.code;
          throw e;
        }
      }
      if (args[0] && !args[0].startsWith('-')) {
        try {
          return await runScript((await fs.readFile(ctx.fs.map(args[0], ctx.cwd))).toString('utf8'), ctx);
        } catch (e) {
          if (e instanceof ExitSignal) return e.code;
          ctx.err(`sh: can't open '${args[0]}': No such file or directory\n`);
          return 2;
        }
      }
      return interactiveShell(ctx);
    }
    case 'echo': {
      let nl = true;
      if (args[0] === '-n') {
        nl = false;
        args.shift();
      }
      ctx.out(args.join(' ') + (nl ? '\n' : ''));
      return 0;
    }
    case 'printf': {
      const fmt = (args[0] ?? '').replace(/\\n/g, '\n').replace(/\\t/g, '\t');
      let k = 1;
      ctx.out(fmt.replace(/%[sd]/g, () => args[k++] ?? ''));
      return 0;
    }
    case 'cat': {
      if (!args.length || (args.length === 1 && args[0] === '-')) {
        for (let c; (c = await ctx.stdin.read(ctx.signal)); ) ctx.out(c);
        return 0;
      }
      let code = 0;
      for (const f of args) {
        try {
          ctx.out(await fs.readFile(ctx.fs.map(f, ctx.cwd)));
        } catch {
          ctx.err(`cat: can't open '${f}': No such file or directory\n`);
          code = 1;
        }
      }
      return code;
    }
    case 'env':
    case 'printenv':
      if (cmd === 'printenv' && args[0]) {
        if (ctx.env[args[0]] === undefined) return 1;
        ctx.out(`${ctx.env[args[0]]}\n`);
        return 0;
      }
      ctx.out(Object.entries(ctx.env).map(([k, v]) => `${k}=${v}\n`).join(''));
      return 0;
    case 'sleep': {
      const n = Number(args[0] ?? '0');
      if (!Number.isFinite(n)) {
        ctx.err(`sleep: invalid number '${args[0]}'\n`);
        return 1;
      }
      await sleep(n * 1000, ctx.signal);
      return 0;
    }
    case 'true':
      return 0;
    case 'false':
      return 1;
    case 'exit':
      throw new ExitSignal(Number(args[0] ?? 0) || 0);
    case 'pwd':
      ctx.out(`${ctx.cwd}\n`);
      return 0;
    case 'hostname':
      ctx.out(`${ctx.env.HOSTNAME}\n`);
      return 0;
    case 'whoami':
      ctx.out('root\n');
      return 0;
    case 'id':
      ctx.out('uid=0(root) gid=0(root) groups=0(root)\n');
      return 0;
    case 'uname':
      ctx.out(args.includes('-a') ? `Linux ${ctx.env.HOSTNAME} 6.1.0 #1 SMP x86_64 GNU/Linux\n` : 'Linux\n');
      return 0;
    case 'date':
      ctx.out(`${new Date().toUTCString()}\n`);
      return 0;
    case 'ls': {
      const flags = args.filter((a) => a.startsWith('-')).join('');
      const targets = args.filter((a) => !a.startsWith('-'));
      if (!targets.length) targets.push(ctx.cwd);
      let code = 0;
      for (const t of targets) {
        const p = ctx.fs.map(t, ctx.cwd);
        try {
          const st = await fs.stat(p);
          if (st.isDirectory()) {
            let names = (await fs.readdir(p)).sort();
            if (flags.includes('a')) names = ['.', '..', ...names];
            if (targets.length > 1) ctx.out(`${t}:\n`);
            if (flags.includes('l')) {
              for (const n of names) {
                const s = await fs.stat(path.join(p, n)).catch(() => null);
                ctx.out(`${s?.isDirectory() ? 'd' : '-'}rw-r--r--    1 root     root    ${String(s?.size ?? 0).padStart(8)} ${n}\n`);
              }
            } else ctx.out(names.map((n) => `${n}\n`).join(''));
          } else ctx.out(`${t}\n`);
        } catch {
          ctx.err(`ls: ${t}: No such file or directory\n`);
          code = 1;
        }
      }
      return code;
    }
    case 'test':
    case '[': {
      const a = cmd === '[' ? args.slice(0, -1) : args;
      if (a.length === 2) {
        const st = await fs.stat(ctx.fs.map(a[1]!, ctx.cwd)).catch(() => null);
        switch (a[0]) {
          case '-d':
            return st?.isDirectory() ? 0 : 1;
          case '-f':
            return st?.isFile() ? 0 : 1;
          case '-e':
            return st ? 0 : 1;
          case '-s':
            return st && st.size > 0 ? 0 : 1;
          case '-z':
            return a[1] === '' ? 0 : 1;
          case '-n':
            return a[1] !== '' ? 0 : 1;
        }
      }
      if (a.length === 3) {
        const [x, op, y] = a;
        switch (op) {
          case '=':
          case '==':
            return x === y ? 0 : 1;
          case '!=':
            return x !== y ? 0 : 1;
          case '-eq':
            return Number(x) === Number(y) ? 0 : 1;
          case '-ne':
            return Number(x) !== Number(y) ? 0 : 1;
        }
      }
      if (a.length === 1) return a[0] ? 0 : 1;
      return 1;
    }
    case 'mkdir': {
      const p = args.includes('-p');
      for (const d of args.filter((x) => !x.startsWith('-'))) {
        try {
          await fs.mkdir(ctx.fs.map(d, ctx.cwd), { recursive: p });
        } catch {
          ctx.err(`mkdir: can't create directory '${d}': File exists\n`);
          return 1;
        }
      }
      return 0;
    }
    case 'rm': {
      const flags = args.filter((a) => a.startsWith('-')).join('');
      let code = 0;
      for (const f of args.filter((x) => !x.startsWith('-'))) {
        const p = ctx.fs.map(f, ctx.cwd);
        if (p === ctx.fs.root) continue;
        try {
          await fs.rm(p, { recursive: flags.includes('r'), force: flags.includes('f') });
        } catch {
          ctx.err(`rm: can't remove '${f}': No such file or directory\n`);
          code = 1;
        }
      }
      return code;
    }
    case 'touch':
      for (const f of args.filter((x) => !x.startsWith('-'))) {
        const p = ctx.fs.map(f, ctx.cwd);
        await fs.appendFile(p, '').catch(() => {});
      }
      return 0;
    case 'wc': {
      const data = await ctx.stdin.readAll(ctx.signal);
      if (args.includes('-c')) ctx.out(`${data.length}\n`);
      else if (args.includes('-l')) ctx.out(`${data.toString().split('\n').length - 1}\n`);
      else ctx.out(`${data.toString().split('\n').length - 1} ${data.toString().split(/\s+/).filter(Boolean).length} ${data.length}\n`);
      return 0;
    }
    case 'head':
    case 'tail': {
      const data = await ctx.stdin.readAll(ctx.signal);
      const cArg = args.find((a) => a.startsWith('-c'));
      if (cArg) {
        const spec = cArg === '-c' ? args[args.indexOf(cArg) + 1] ?? '0' : cArg.slice(2);
        if (cmd === 'tail' && spec.startsWith('+')) ctx.out(data.subarray(Math.max(0, Number(spec.slice(1)) - 1)));
        else if (cmd === 'tail') ctx.out(data.subarray(Math.max(0, data.length - Number(spec))));
        else ctx.out(data.subarray(0, Number(spec)));
        return 0;
      }
      const nArg = args.find((a) => a.startsWith('-n'));
      const n = nArg ? Number(nArg === '-n' ? args[args.indexOf(nArg) + 1] : nArg.slice(2)) : 10;
      const lines = data.toString().split('\n');
      if (lines[lines.length - 1] === '') lines.pop();
      const sel = cmd === 'head' ? lines.slice(0, n) : lines.slice(Math.max(0, lines.length - n));
      ctx.out(sel.map((l) => `${l}\n`).join(''));
      return 0;
    }
    case 'tar':
      return tar(args, ctx);
    default:
      throw new NotFoundError(cmd0);
  }
}

// ---------------------------------------------------------------- channel protocol session

export interface ChannelSessionInfo {
  kind: 'exec' | 'attach';
  namespace: string;
  pod: string;
  container: string;
  command: string[];
  protocol: string;
  tty: boolean;
  stdin: boolean;
  stdinBytes: number;
  resizes: { Width: number; Height: number }[];
  exitCode?: number;
  closed: boolean;
}

export interface ChannelSessionOpts {
  ws: WebSocket;
  info: ChannelSessionInfo;
  stdout: boolean;
  stderr: boolean;
  /** for exec */
  ctxBase?: Omit<ExecCtx, 'stdin' | 'out' | 'err' | 'signal'>;
  /** for attach: subscribe to the main process output; returns an unsubscribe */
  attachSource?: (write: (line: string) => void) => () => void;
  onDone?: () => void;
}

function statusJson(code: number, command: string[]): string {
  if (code === 0) return JSON.stringify({ metadata: {}, status: 'Success' });
  return JSON.stringify({
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  });
}

export function runChannelSession(o: ChannelSessionOpts): void {
  const { ws, info } = o;
  const v5 = info.protocol === 'v5.channel.k8s.io';
  const structuredErrors = /^v[345]\./.test(info.protocol);
  const stdin = new StdinQueue();
  const ac = new AbortController();
  let done = false;

  const send = (ch: number, data: Buffer | string) => {
    if (ws.readyState !== ws.OPEN) return;
    const b = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (!b.length) return;
    ws.send(Buffer.concat([Buffer.from([ch]), b]), { binary: true });
  };
  const out = (d: Buffer | string) => o.stdout && send(STDOUT, d);
  const err = (d: Buffer | string) => {
    if (info.tty) out(d);
    else if (o.stderr) send(STDERR, d);
  };

  ws.on('message', (raw: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
    let data = Array.isArray(raw) ? Buffer.concat(raw) : Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
    if (!isBinary) {
      // base64 protocols send text frames: channel as ASCII digit + base64 payload
      const s = data.toString('utf8');
      data = Buffer.concat([Buffer.from([s.charCodeAt(0) - 48]), Buffer.from(s.slice(1), 'base64')]);
    }
    if (!data.length) return;
    const ch = data[0]!;
    const payload = data.subarray(1);
    if (ch === STDIN) {
      if (payload.length) {
        info.stdinBytes += payload.length;
        stdin.push(Buffer.from(payload));
      }
    } else if (ch === RESIZE) {
      try {
        info.resizes.push(JSON.parse(payload.toString('utf8')));
      } catch {
        /* ignore */
      }
    } else if (ch === CLOSE && v5) {
      if (payload[0] === STDIN) stdin.end();
    }
  });
  const onGone = () => {
    info.closed = true;
    stdin.end();
    ac.abort();
    if (!done) {
      done = true;
      o.onDone?.();
    }
  };
  ws.on('close', onGone);
  ws.on('error', onGone);
  if (!info.stdin) stdin.end();

  const finish = (code: number | null, failure?: { message: string; reason: string; code: number }) => {
    if (done) return;
    done = true;
    if (code !== null) info.exitCode = code;
    if (ws.readyState === ws.OPEN) {
      if (failure) {
        send(ERROR, structuredErrors ? JSON.stringify({ metadata: {}, status: 'Failure', ...failure }) : failure.message);
      } else if (structuredErrors) send(ERROR, statusJson(code ?? 0, info.command));
      else if (code) send(ERROR, `command terminated with non-zero exit code: exit code ${code}`);
      ws.close(1000);
    }
    o.onDone?.();
  };

  if (info.kind === 'attach') {
    const unsub = o.attachSource?.((line) => out(line));
    void (async () => {
      for (let c; (c = await stdin.read(ac.signal)); ) out(c);
      // main process "exits" when its stdin closes (only if stdin was attached)
      if (info.stdin && !ac.signal.aborted) {
        unsub?.();
        finish(0);
      }
    })();
    ws.once('close', () => unsub?.());
    return;
  }

  const ctx: ExecCtx = { ...o.ctxBase!, stdin, out, err, signal: ac.signal };
  void (async () => {
    try {
      const code = await runCommand(info.command, ctx);
      finish(code);
    } catch (e) {
      if (e instanceof ExitSignal) finish(e.code);
      else if (e instanceof NotFoundError) {
        finish(null, {
          message: `Internal error occurred: error executing command in container: failed to exec in container: failed to start exec: OCI runtime exec failed: exec failed: unable to start container process: exec: "${e.message}": executable file not found in $PATH: unknown`,
          reason: 'InternalError',
          code: 500,
        });
      } else {
        finish(null, { message: String((e as Error).message), reason: 'InternalError', code: 500 });
      }
    }
  })();
}
