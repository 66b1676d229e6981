/**
 * Many watches on one HTTP/2 connection, the way k9s and informers hold them (client-go
 * multiplexes every watch of a process over one connection), in a process of its own so that its
 * memory and CPU are not counted as the local proxy's. Each watch asks for its initial events
 * (sendInitialEvents, as informers' WatchList does) and counts only what comes after the
 * initial-events-end bookmark. Tells its parent over IPC:
 *   { open: n }    every watch has had its initial events and is streaming
 *   { seen: k }    every watch has now received k events
 *   { failed: s }  a watch failed (status, reset, parse error)
 * The parent sends 'stop' to close the connection.
 *   startWatchLoad({ url, tls, count })
 */
import { fork } from 'node:child_process';
import http2 from 'node:http2';
import { fileURLToPath } from 'node:url';

export interface WatchLoadSpec {
  /** https://host:port/path?watch=1... */
  url: string;
  tls: { ca: string; cert: string; key: string };
  count: number;
}

type Report = { open: number } | { seen: number } | { failed: string };

function run(spec: WatchLoadSpec): void {
  const u = new URL(spec.url);
  const session = http2.connect(u.origin, { ca: spec.tls.ca, cert: spec.tls.cert, key: spec.tls.key, servername: 'localhost', checkServerIdentity: () => undefined });
  const report = (r: Report) => process.send!(r);
  session.on('error', (e) => report({ failed: `the connection failed: ${e.message}` }));
  const events = new Array<number>(spec.count).fill(0);
  let open = 0;
  let seenAll = 0;
  for (let i = 0; i < spec.count; i++) {
    const stream = session.request({ ':method': 'GET', ':path': u.pathname + u.search, accept: 'application/json' });
    let buffered = '';
    stream.setEncoding('utf8');
    let ready = false;
    stream.on('response', (h) => {
      if (h[':status'] !== 200) report({ failed: `watch ${i}: HTTP ${h[':status']}` });
    });
    stream.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (!line) continue;
        const ev = JSON.parse(line) as { type?: string; object?: { metadata?: { annotations?: Record<string, string> } } };
        if (ev.type === 'ERROR') report({ failed: `watch ${i}: ${line}` });
        else if (ready) events[i]!++;
        else if (ev.type === 'BOOKMARK' && ev.object?.metadata?.annotations?.['k8s.io/initial-events-end'] === 'true') {
          ready = true;
          if (++open === spec.count) report({ open });
        }
      }
      // cheap enough for a few thousand watches: runs only when this watch's count grows past the floor
      if (events[i]! > seenAll) {
        const min = events.reduce((a, b) => Math.min(a, b));
        if (min > seenAll) report({ seen: (seenAll = min) });
      }
    });
    stream.on('error', (e) => report({ failed: `watch ${i}: ${e.message}` }));
  }
  process.on('message', () => {
    session.destroy();
    process.exit(0);
  });
}

export interface WatchLoad {
  pid: number;
  /** resolves when every watch has received `k` events */
  seen(k: number): Promise<void>;
  stop(): void;
}

/** Starts the watches in a child process; resolves once all of them are open. */
export function startWatchLoad(spec: WatchLoadSpec, timeoutMs = 60_000): Promise<WatchLoad> {
  const child = fork(fileURLToPath(import.meta.url), [JSON.stringify(spec)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  let seen = 0;
  let failure: string | undefined;
  const waiters = new Set<() => void>();
  let open = false;
  child.on('message', (r: Report) => {
    if ('open' in r) open = true;
    if ('seen' in r) seen = r.seen;
    if ('failed' in r) failure ??= r.failed;
    for (const w of waiters) w();
  });
  const until = (done: () => boolean, what: string) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => check(true), timeoutMs);
      const check = (late = false) => {
        if (failure || late || done()) {
          clearTimeout(timer);
          waiters.delete(check);
          if (failure) reject(new Error(failure));
          else if (!done()) reject(new Error(`${what}: not within ${timeoutMs} ms`));
          else resolve();
        }
      };
      waiters.add(check);
      check();
    });
  child.once('exit', (code) => {
    failure ??= `the watch load generator exited with ${code}`;
    for (const w of waiters) w();
  });
  const load: WatchLoad = {
    pid: child.pid!,
    seen: (k) => until(() => seen >= k, `${spec.count} watches seeing event ${k}`),
    stop: () => {
      if (child.connected) child.send('stop');
    },
  };
  return until(() => open, `opening ${spec.count} watches`).then(
    () => load,
    (e: unknown) => {
      child.kill();
      throw e;
    },
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  run(JSON.parse(process.argv[2]!) as WatchLoadSpec);
}
