import type { AuditLog } from '../audit/audit';
import type { Clock } from '../core/clock';
import { TapgateError } from '../core/errors';
import type { EnrolmentLinks } from './enrolment-links';
import type { RoleRepo } from './roles';
import type { Credential, User, UserRepo } from './users';

export interface EnrolmentLink {
  url: string;
  expiresAt: number;
}

/** What an administrator does to users and their keys; every change is audited. */
export class UserAdmin {
  constructor(
    private readonly d: {
      users: UserRepo;
      roles: RoleRepo;
      links: EnrolmentLinks;
      audit: AuditLog;
      clock: Clock;
      enrolmentTtlMs: number;
      publicUrl: () => string;
    },
    private readonly actor = 'admin',
  ) {}

  async addUser(name: string, roles: string[]): Promise<{ user: User; link: EnrolmentLink }> {
    if (roles.length === 0) throw new TapgateError('no_roles', 'give the user at least one role, e.g. --roles access');
    await this.d.roles.resolve(roles);
    const user = await this.d.users.add(name, roles, this.d.clock.now());
    await this.d.audit.record({ event: 'user.created', outcome: 'ok', actor: this.actor, data: { name, roles } });
    return { user, link: await this.link(name) };
  }

  /** A new enrolment link for an existing user (another key, or a replacement). */
  async addKeyLink(name: string): Promise<EnrolmentLink> {
    await this.d.users.require(name);
    return this.link(name);
  }

  async setRoles(name: string, roles: string[]): Promise<void> {
    await this.d.users.require(name);
    await this.d.roles.resolve(roles);
    await this.d.users.setRoles(name, roles);
    await this.d.audit.record({ event: 'user.updated', outcome: 'ok', actor: this.actor, data: { name, roles } });
  }

  async removeUser(name: string): Promise<void> {
    if (!(await this.d.users.remove(name))) throw new TapgateError('unknown_user', `user "${name}" does not exist; see "tapgate users ls"`, { status: 404 });
    await this.d.audit.record({ event: 'user.removed', outcome: 'ok', actor: this.actor, data: { name } });
  }

  async keys(name: string): Promise<Credential[]> {
    await this.d.users.require(name);
    return this.d.users.credentials(name);
  }

  /**
   * Removes a key by id (or a unique id prefix). Removing a user's last key locks them out until
   * they enrol again, so it needs `force`; the refusal and the forced removal are both audited.
   */
  async removeKey(user: string, idOrPrefix: string, force = false): Promise<Credential> {
    const keys = await this.keys(user);
    const matches = keys.filter((k) => k.id === idOrPrefix || k.id.startsWith(idOrPrefix) || k.name === idOrPrefix);
    if (matches.length === 0) throw new TapgateError('unknown_key', `${user} has no key "${idOrPrefix}"; see "tapgate mfa ls ${user}"`, { status: 404 });
    if (matches.length > 1) throw new TapgateError('ambiguous_key', `"${idOrPrefix}" matches ${matches.length} keys of ${user}; give more of the key id`);
    const key = matches[0]!;
    const last = keys.length === 1;
    if (last && !force) {
      await this.d.audit.record({ event: 'mfa_device.removed', outcome: 'refused', actor: this.actor, reason: 'last key needs --force', data: { user, credentialId: key.id } });
      throw new TapgateError('last_key', `"${key.name}" is the last security key of ${user}; without it they cannot log in. Add another key first ("tapgate mfa add ${user}"), or repeat with --force.`);
    }
    await this.d.users.removeCredential(key.id);
    await this.d.audit.record({ event: 'mfa_device.removed', outcome: 'ok', actor: this.actor, reason: last ? 'last key removed with --force' : undefined, data: { user, credentialId: key.id, name: key.name, last } });
    return key;
  }

  private async link(name: string): Promise<EnrolmentLink> {
    const { token, expiresAt } = await this.d.links.create(name, this.d.enrolmentTtlMs, this.d.clock.now());
    await this.d.audit.record({ event: 'enrolment.link', outcome: 'ok', actor: this.actor, data: { user: name, expiresAt } });
    return { url: `${this.d.publicUrl()}/enrol/${token}`, expiresAt };
  }
}
