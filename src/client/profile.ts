import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { TapgateError } from '../core/errors';
import { GateClient } from './api-client';

/**
 * The client's login state in ~/.tapgate (or $TAPGATE_HOME): profile.json, login.crt and
 * login.key, each 0600 in a 0700 directory. The key was generated here and never left.
 */

const profileSchema = z.object({
  server: z.string().url(),
  user: z.string(),
  /** CA the gate's TLS certificate chains to; '' = system trust store */
  caPem: z.string(),
  loginExpires: z.number(),
  roles: z.array(z.string()).default([]),
});

export type Profile = z.infer<typeof profileSchema>;

export interface LoginState {
  profile: Profile;
  certPem: string;
  keyPem: string;
}

export function tapgateHome(): string {
  return process.env.TAPGATE_HOME || join(homedir(), '.tapgate');
}

export function saveProfile(state: LoginState, home = tapgateHome()): void {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  chmodSync(home, 0o700);
  writePrivate(join(home, 'login.key'), state.keyPem);
  writePrivate(join(home, 'login.crt'), state.certPem);
  writePrivate(join(home, 'profile.json'), `${JSON.stringify(profileSchema.parse(state.profile), null, 2)}\n`);
}

/** The saved login, or undefined when there is none. A damaged profile is an error to fix. */
export function loadProfile(home = tapgateHome()): LoginState | undefined {
  let text: string;
  try {
    text = readFileSync(join(home, 'profile.json'), 'utf8');
  } catch {
    return undefined;
  }
  const parsed = profileSchema.safeParse(safeJson(text));
  if (!parsed.success) throw new TapgateError('bad_profile', `${join(home, 'profile.json')} is damaged; run "tapgate login" again`);
  try {
    return { profile: parsed.data, certPem: readFileSync(join(home, 'login.crt'), 'utf8'), keyPem: readFileSync(join(home, 'login.key'), 'utf8') };
  } catch {
    throw new TapgateError('bad_profile', `the login certificate or key in ${home} is missing; run "tapgate login" again`);
  }
}

/** Like loadProfile, but a missing or ended login is an error that says what to run. */
export function requireLogin(home = tapgateHome(), now = Date.now()): LoginState {
  const state = loadProfile(home);
  if (!state) throw new TapgateError('not_logged_in', 'you are not logged in; run "tapgate login --server https://<gate>"', { status: 401 });
  if (state.profile.loginExpires <= now) throw new TapgateError('login_expired', `your login session ended at ${new Date(state.profile.loginExpires).toISOString()}; run "tapgate login"`, { status: 401 });
  return state;
}

/** A GateClient that authenticates with the saved login certificate. */
export function clientFromProfile(state: LoginState): GateClient {
  return new GateClient({ server: state.profile.server, caPem: state.profile.caPem, certPem: state.certPem, keyPem: state.keyPem });
}

export function removeProfile(home = tapgateHome()): void {
  for (const f of ['profile.json', 'login.crt', 'login.key']) rmSync(join(home, f), { force: true });
}

function writePrivate(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
