import type { Identity } from '../pki/identity';
import { kubeIdentity } from './policy';
import type { Role } from './roles';

/** The identity a user's certificates carry, from their roles at the time of issue. */
export function userIdentity(opts: {
  usage: 'login' | 'mfa';
  name: string;
  roles: Role[];
  clusters?: string[];
  loginExpires: number;
  mfaDevice?: string;
  mfaVerifiedAt?: number;
}): Identity {
  const kube = kubeIdentity(opts.roles, opts.name);
  const id: Identity = {
    usage: opts.usage,
    kind: 'user',
    name: opts.name,
    roles: opts.roles.map((r) => r.name),
    kubeUsers: kube.users,
    kubeGroups: kube.groups,
    clusters: opts.clusters ?? [],
    loginExpires: opts.loginExpires,
  };
  if (opts.mfaDevice) id.mfaDevice = opts.mfaDevice;
  if (opts.mfaVerifiedAt !== undefined) id.mfaVerifiedAt = opts.mfaVerifiedAt;
  return id;
}
