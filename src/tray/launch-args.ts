import { TapgateError } from '../core/errors';

/**
 * What a launch asks the tray to do. It comes from the command line (`tapgate-tray --cluster prod
 * --server URL`, an IDE task), from a deep link (`tapgate://connect?cluster=prod`, a browser or
 * an IDE), or from a second launch forwarded to the running tray. All of it is untrusted input.
 */
export type LaunchAction = 'open' | 'verify' | 'connect' | 'status' | 'settings';

export interface LaunchRequest {
  action: LaunchAction;
  cluster?: string;
  /** only from the command line: a link on a web page must never repoint the tray at another gate */
  server?: string;
  source: 'argv' | 'deep-link';
}

export interface ParsedLaunch {
  request: LaunchRequest;
  /** what was ignored and why, for the log */
  warnings: string[];
}

export const PROTOCOL = 'tapgate';
const CLUSTER_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const MAX_LINK = 2048;
const DEEP_LINK_ACTIONS: ReadonlySet<LaunchAction> = new Set(['open', 'verify', 'connect', 'status']);

export function isValidCluster(name: string): boolean {
  return CLUSTER_RE.test(name);
}

/** A gate URL: https (http only for loopback), no credentials; kept to its origin. */
export function normaliseServer(input: string): string {
  let u: URL;
  try {
    u = new URL(input.includes('://') ? input : `https://${input}`);
  } catch {
    throw new TapgateError('bad_server', `"${input}" is not a URL; write the gate's address like https://gate.example.com`);
  }
  const loopback = u.hostname === 'localhost' || u.hostname === '127.0.0.1' || u.hostname === '[::1]';
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) {
    throw new TapgateError('bad_server', `the gate's address must use https:// (got ${u.protocol}//)`);
  }
  if (u.username || u.password) throw new TapgateError('bad_server', 'the gate address must not contain a user name or password');
  return u.origin;
}

/** Parses `tapgate://verify`, `tapgate://connect?cluster=prod` (also `tapgate:verify`). */
export function parseDeepLink(link: string): ParsedLaunch {
  const warnings: string[] = [];
  const fail = (why: string): ParsedLaunch => ({ request: { action: 'open', source: 'deep-link' }, warnings: [`ignored link: ${why}`] });
  if (link.length > MAX_LINK) return fail(`longer than ${MAX_LINK} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\s]/.test(link)) return fail('contains spaces or control characters');
  let u: URL;
  try {
    u = new URL(link);
  } catch {
    return fail('not a URL');
  }
  if (u.protocol !== `${PROTOCOL}:`) return fail(`scheme is ${u.protocol} not ${PROTOCOL}:`);
  if (u.username || u.password || u.port) return fail('must not carry a user, password or port');
  const action = (u.hostname || u.pathname.replace(/^\/+/, '')).replace(/\/+$/, '').toLowerCase();
  if (u.hostname && u.pathname && u.pathname !== '/') return fail(`unexpected path ${u.pathname}`);
  if (!DEEP_LINK_ACTIONS.has(action as LaunchAction)) return fail(`unknown action "${action.slice(0, 40)}" (use verify, connect, open or status)`);
  const request: LaunchRequest = { action: action as LaunchAction, source: 'deep-link' };
  for (const key of new Set(u.searchParams.keys())) {
    if (key === 'cluster') continue;
    warnings.push(key === 'server' ? 'a link cannot change the gate server; use the tray settings' : `ignored parameter "${key.slice(0, 40)}"`);
  }
  const clusters = u.searchParams.getAll('cluster');
  if (clusters.length > 1) return fail('more than one cluster');
  if (clusters.length === 1) {
    if (!isValidCluster(clusters[0]!)) return fail('cluster names use a-z, 0-9, ".", "_" and "-"');
    request.cluster = clusters[0];
  }
  if (request.action === 'connect' && !request.cluster) return fail('connect needs ?cluster=NAME');
  return { request, warnings };
}

/**
 * Parses the arguments after the executable (and, in development, the app path). Chromium adds
 * switches of its own to a second instance's argv, so unknown switches are ignored, not fatal.
 * When a deep link is present it is the only thing honoured: the OS builds that argv from a URL
 * a web page chose, so flags next to it may be smuggled in.
 */
export function parseLaunchArgs(args: readonly string[]): ParsedLaunch {
  const link = args.find((a) => a.toLowerCase().startsWith(`${PROTOCOL}:`));
  if (link !== undefined) {
    const parsed = parseDeepLink(link);
    if (args.some((a) => a !== link && a !== '--' && !isChromiumSwitch(a))) parsed.warnings.push('ignored command-line flags next to a deep link');
    return parsed;
  }
  const warnings: string[] = [];
  const request: LaunchRequest = { action: 'open', source: 'argv' };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const takeValue = (): string | undefined => (eq > 0 && arg.startsWith('--') ? arg.slice(eq + 1) : args[++i]);
    switch (name) {
      case '--cluster': {
        const v = takeValue();
        if (v && isValidCluster(v)) {
          request.cluster = v;
          if (request.action === 'open') request.action = 'connect';
        } else warnings.push(`ignored --cluster ${JSON.stringify(v ?? '')}: cluster names use a-z, 0-9, ".", "_" and "-"`);
        break;
      }
      case '--server': {
        const v = takeValue() ?? '';
        try {
          request.server = normaliseServer(v);
        } catch (e) {
          warnings.push(`ignored --server: ${(e as Error).message}`);
        }
        break;
      }
      case '--verify':
        request.action = 'verify';
        break;
      case '--status':
        request.action = 'status';
        break;
      case '--settings':
        request.action = 'settings';
        break;
      default:
        if (!isChromiumSwitch(arg) && arg !== '--' && arg !== '.') warnings.push(`ignored argument ${JSON.stringify(arg.slice(0, 60))}`);
    }
  }
  return { request, warnings };
}

function isChromiumSwitch(arg: string): boolean {
  return /^--(allow-file-access-from-files|original-process-start-time|enable-features|disable-features|no-sandbox|inspect|remote-debugging-port|ozone-platform|enable-logging|user-data-dir)(=|$)/.test(arg) || /^-psn_/.test(arg);
}
