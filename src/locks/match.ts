import type { Identity } from '../pki/identity';

export type LockTargetKind = 'user' | 'role' | 'mfa_device' | 'bot' | 'bot_instance' | 'token';
export const LOCK_TARGET_KINDS: LockTargetKind[] = ['user', 'role', 'mfa_device', 'bot', 'bot_instance', 'token'];

export interface Lock {
  id: string;
  targetKind: LockTargetKind;
  target: string;
  message: string;
  createdBy: string;
  createdAt: number;
  expiresAt: number | null;
}

/** Pure: the first lock in force at `now` that covers this identity, if any. */
export function matchLock(locks: Iterable<Lock>, id: Identity, now: number): Lock | undefined {
  for (const l of locks) {
    if (l.expiresAt !== null && l.expiresAt <= now) continue;
    if (covers(l, id)) return l;
  }
  return undefined;
}

function covers(l: Lock, id: Identity): boolean {
  switch (l.targetKind) {
    case 'user':
      return id.kind === 'user' && id.name === l.target;
    case 'role':
      return id.roles.includes(l.target);
    case 'mfa_device':
      return id.mfaDevice === l.target;
    case 'bot':
      return id.kind === 'bot' && id.name === l.target;
    case 'bot_instance':
      return id.kind === 'bot' && id.botInstance === l.target;
    case 'token':
      return id.kind === 'bot' && id.joinToken === l.target;
  }
}
