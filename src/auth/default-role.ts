import type { AuditLog } from '../audit/audit';
import { roleSpecSchema, type RoleRepo } from './roles';

export const DEFAULT_ROLE = 'access';

/**
 * A fresh gate gets one role, `access` (every cluster, no extra Kubernetes groups, default
 * session and MFA interval), so `tapgate users add alice --roles access` works out of the box.
 */
export async function ensureDefaultRole(roles: RoleRepo, audit: AuditLog, now: number): Promise<boolean> {
  if ((await roles.list()).length > 0) return false;
  const role = { name: DEFAULT_ROLE, spec: roleSpecSchema.parse({ kube_clusters: ['*'], kubernetes_groups: [] }) };
  await roles.upsert(role, now);
  await audit.record({ event: 'role.created', outcome: 'ok', actor: 'system', data: { name: role.name, default: true } });
  return true;
}
