import { clusterAllowed, kubeIdentity, loginTtl } from '../auth/policy';
import type { Role } from '../auth/roles';
import type { Identity } from '../pki/identity';

/** Pure: what a bot instance's certificate says, and for how long. */

export const DEFAULT_BOT_TTL_MS = 3_600_000;
export const MIN_BOT_TTL_MS = 60_000;

export function botIdentity(o: {
  bot: string;
  roles: Role[];
  clusterNames: string[];
  instanceId: string;
  generation: number;
  renewable: boolean;
  token: string;
}): Identity {
  // Bots get their own Kubernetes user name by default so a bot never acts as a same-named person.
  const kube = kubeIdentity(o.roles, `bot-${o.bot}`);
  return {
    usage: 'bot',
    kind: 'bot',
    name: o.bot,
    roles: o.roles.map((r) => r.name),
    kubeUsers: kube.users,
    kubeGroups: kube.groups,
    clusters: o.clusterNames.filter((c) => clusterAllowed(o.roles, c)),
    botInstance: o.instanceId,
    generation: o.generation,
    renewable: o.renewable,
    joinToken: o.token,
  };
}

/** Asked-for lifetime (default 1h, at least a minute), capped by the roles' max_session_ttl. */
export function botCertTtl(roles: Role[], requestedMs?: number): number {
  return loginTtl(roles, Math.max(MIN_BOT_TTL_MS, requestedMs ?? DEFAULT_BOT_TTL_MS));
}
