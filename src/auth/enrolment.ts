import type { PublicKeyCredentialCreationOptionsJSON } from '@simplewebauthn/server';
import type { AuditLog } from '../audit/audit';
import type { Clock } from '../core/clock';
import { TapgateError } from '../core/errors';
import type { Db } from '../store/db';
import { audited } from './audited';
import type { Challenges } from './challenges';
import { assertUsable, EnrolmentLinks, hashToken, type EnrolmentLink } from './enrolment-links';
import type { RelyingParty } from './webauthn';
import { UserRepo } from './users';

export interface EnrolmentDeps {
  db: Db;
  clock: Clock;
  audit: AuditLog;
  users: UserRepo;
  links: EnrolmentLinks;
  challenges: Challenges;
  rp: RelyingParty;
}

/** Registering a security key through a one-time enrolment link. */
export class Enrolment {
  constructor(private readonly d: EnrolmentDeps) {}

  /** What the enrolment page shows; a dead link is refused and audited. */
  async describe(token: string): Promise<{ userName: string; expiresAt: number; keys: number }> {
    return audited(this.d.audit, 'enrolment', trailFor(token), async (trail) => {
      const link = await this.usable(token, trail);
      const keys = (await this.d.users.credentials(link.userName)).length;
      return { userName: link.userName, expiresAt: link.expiresAt, keys };
    });
  }

  async begin(token: string): Promise<{ challengeId: string; options: PublicKeyCredentialCreationOptionsJSON }> {
    return audited(this.d.audit, 'enrolment', trailFor(token), async (trail) => {
      const link = await this.usable(token, trail);
      const user = await this.d.users.require(link.userName);
      const c = await this.d.challenges.issue('register', hashToken(token), user.name);
      const options = await this.d.rp.registrationOptions(user, c.challenge, await this.d.users.credentials(user.name));
      return { challengeId: c.id, options };
    });
  }

  async finish(token: string, body: { challengeId: string; response: unknown; keyName?: string }): Promise<{ userName: string; credentialId: string; keyName: string }> {
    return audited(this.d.audit, 'enrolment', trailFor(token), async (trail) => {
      // The challenge first: a replayed response is named as a replay even after the link is used.
      const c = await this.d.challenges.consume(body.challengeId, 'register', hashToken(token));
      if (c.userName) trail.actor = `user:${c.userName}`;
      const link = await this.usable(token, trail);
      const now = this.d.clock.now();
      const cred = await this.d.rp.verifyRegistration(body.response, c.challenge);
      trail.data.credentialId = cred.id;
      const keyName = await this.d.db.tx(async (t) => {
        const users = new UserRepo(t);
        const existing = await users.credentials(link.userName);
        if (existing.some((k) => k.id === cred.id)) throw new TapgateError('key_exists', 'This security key is already registered for you. Use a different key.', { status: 409, auditReason: 'key already registered' });
        await new EnrolmentLinks(t).consume(token, now);
        const name = body.keyName?.trim() || `key ${existing.length + 1}`;
        await users.addCredential({ id: cred.id, userName: link.userName, publicKey: cred.publicKey, counter: cred.counter, transports: cred.transports, name, createdAt: now });
        return name;
      });
      await this.d.audit.record({ event: 'enrolment', outcome: 'ok', actor: trail.actor, data: { ...trail.data, keyName } });
      return { userName: link.userName, credentialId: cred.id, keyName };
    });
  }

  /** The link if it can still be used; the audit trail names its user either way. */
  private async usable(token: string, trail: { actor: string }): Promise<EnrolmentLink> {
    const link = await this.d.links.lookup(token);
    if (link) trail.actor = `user:${link.userName}`;
    assertUsable(link, this.d.clock.now());
    return link!;
  }
}

/** Links are identified in the audit log by a prefix of their hash, never by the token. */
function trailFor(token: string) {
  return { actor: 'anonymous', data: { link: hashToken(token).slice(0, 12) } as Record<string, unknown> };
}
