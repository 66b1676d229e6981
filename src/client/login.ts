import { hostname } from 'node:os';
import { generateKeyPair } from '../pki/ca';
import { TapgateError } from '../core/errors';
import { GateClient } from './api-client';
import { loadProfile, saveProfile, tapgateHome, type LoginState } from './profile';

export interface LoginOptions {
  /** the gate's URL */
  server: string;
  /** asked-for session length; the gate caps it at the roles' max_session_ttl */
  ttlMs?: number;
  /** the gate's CA, from --ca-file; else the saved profile's for the same server, else trust on first use */
  caPem?: string;
  home?: string;
  /** shows the login URL and code to the person (print it, open the browser) */
  onUrl(url: string, code: string): void | Promise<void>;
  /** trust on first use: told the fingerprint of the CA it is about to trust */
  onFirstUse?(fingerprint: string): void | Promise<void>;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/**
 * `tapgate login`: a key pair made here, a login session on the gate, the person signs in on the
 * gate's page, and the login certificate for our key is saved with the key in the profile.
 */
export async function login(opts: LoginOptions): Promise<LoginState> {
  const server = new URL(opts.server).origin;
  const home = opts.home ?? tapgateHome();
  const saved = opts.caPem === undefined ? savedCa(server, home) : undefined;
  const caPem = opts.caPem ?? saved ?? (await firstUse(server, opts.onFirstUse));
  const client = new GateClient({ server, caPem });
  try {
    const keys = await generateKeyPair();
    const session = await client
      .createLoginSession({ publicKeyPem: keys.publicKeyPem, ttlMs: opts.ttlMs, requester: { host: hostname(), process: 'tapgate login' } })
      .catch((e: unknown) => {
        if (saved !== undefined && e instanceof TapgateError && e.code === 'gate_untrusted') {
          throw new TapgateError('gate_ca_changed', `the gate at ${server} no longer uses the CA saved at your last login; if it was reinstalled, run "tapgate logout" and log in again to see and trust its new CA`);
        }
        throw e;
      });
    await opts.onUrl(session.url, session.code);
    const grant = await client.waitLoginSession(session.id, { signal: opts.signal, timeoutMs: opts.timeoutMs ?? Math.max(1000, session.expiresAt - Date.now()) });
    const state: LoginState = { profile: { server, user: grant.user, caPem, loginExpires: grant.loginExpires, roles: [] }, certPem: grant.certPem, keyPem: keys.privateKeyPem };
    const authed = new GateClient({ server, caPem, certPem: state.certPem, keyPem: state.keyPem });
    try {
      state.profile.roles = (await authed.whoami()).roles;
    } finally {
      await authed.close();
    }
    saveProfile(state, home);
    return state;
  } finally {
    await client.close();
  }
}

/** The CA trusted at the last login to this same server, if any. */
function savedCa(server: string, home: string): string | undefined {
  try {
    const saved = loadProfile(home);
    return saved?.profile.server === server ? saved.profile.caPem : undefined;
  } catch {
    return undefined;
  }
}

async function firstUse(server: string, onFirstUse?: (fingerprint: string) => void | Promise<void>): Promise<string> {
  const { caPem, fingerprint } = await GateClient.fetchCa(server);
  if (caPem) await onFirstUse?.(fingerprint);
  return caPem;
}
