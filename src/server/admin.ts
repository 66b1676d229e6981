import { AuditLog } from '../audit/audit';
import { ensureDefaultRole } from '../auth/default-role';
import { EnrolmentLinks } from '../auth/enrolment-links';
import { RoleRepo } from '../auth/roles';
import { UserAdmin } from '../auth/user-admin';
import { UserRepo } from '../auth/users';
import type { GateConfig } from '../config/config';
import { systemClock, type Clock } from '../core/clock';
import { Locks } from '../locks/locks';
import type { Db } from '../store/db';
import { openDb } from '../store/open';

/**
 * What the admin CLI works with: the gate's store opened directly, as `tctl` does on the auth
 * host. Changes are audited with the admin as actor. A running gate sees new locks on its next
 * lock poll (SQLite) or at once (PostgreSQL NOTIFY).
 */
export interface AdminContext {
  config: GateConfig;
  db: Db;
  clock: Clock;
  audit: AuditLog;
  roles: RoleRepo;
  users: UserRepo;
  locks: Locks;
  userAdmin: UserAdmin;
  actor: string;
  close(): Promise<void>;
}

export async function openAdmin(config: GateConfig, actor: string, clock: Clock = systemClock): Promise<AdminContext> {
  const db = await openDb(config.storage);
  const audit = new AuditLog(db, clock);
  const roles = new RoleRepo(db);
  await ensureDefaultRole(roles, audit, clock.now());
  const users = new UserRepo(db);
  const locks = new Locks(db, audit, clock);
  const userAdmin = new UserAdmin(
    { users, roles, links: new EnrolmentLinks(db), audit, clock, enrolmentTtlMs: config.enrolment_ttl_ms, publicUrl: () => config.public_url },
    actor,
  );
  return { config, db, clock, audit, roles, users, locks, userAdmin, actor, close: () => db.close() };
}
