import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuditLog } from '../audit/audit';
import { ManualClock } from '../core/clock';
import { TapgateError } from '../core/errors';
import { openDb } from '../store/open';
import { ensureDefaultRole } from './default-role';
import { EnrolmentLinks } from './enrolment-links';
import { RoleRepo } from './roles';
import { UserAdmin } from './user-admin';
import { UserRepo } from './users';

async function setup() {
  const clock = new ManualClock();
  const db = await openDb({ type: 'sqlite', path: ':memory:' });
  const audit = new AuditLog(db, clock);
  const roles = new RoleRepo(db);
  await ensureDefaultRole(roles, audit, clock.now());
  const users = new UserRepo(db);
  const links = new EnrolmentLinks(db);
  const admin = new UserAdmin({ users, roles, links, audit, clock, enrolmentTtlMs: 3_600_000, publicUrl: () => 'https://gate.test:3025' }, 'admin:test');
  const key = (id: string, user = 'alice') => users.addCredential({ id, userName: user, publicKey: 'pk', counter: 0, transports: [], name: `key ${id}`, createdAt: clock.now() });
  return { clock, audit, users, links, admin, key };
}

describe('user admin', () => {
  it('adds a user with the default role and a one-time link that expires in an hour', async () => {
    const { admin, links, clock, audit } = await setup();
    const { link } = await admin.addUser('alice', ['access']);
    assert.match(link.url, /^https:\/\/gate\.test:3025\/enrol\/[A-Za-z0-9_-]{43}$/);
    const token = link.url.split('/').pop()!;
    assert.equal((await links.check(token, clock.now())).userName, 'alice');
    await links.consume(token, clock.now());
    await assert.rejects(links.consume(token, clock.now()), (e: TapgateError) => e.code === 'enrolment_used');
    const other = (await admin.addKeyLink('alice')).url.split('/').pop()!;
    clock.advance(3_600_000);
    await assert.rejects(links.check(other, clock.now()), (e: TapgateError) => e.code === 'enrolment_expired');
    assert.deepEqual((await audit.list()).map((r) => r.event).sort(), ['enrolment.link', 'enrolment.link', 'role.created', 'user.created']);
  });

  it('refuses unknown roles and duplicate users', async () => {
    const { admin } = await setup();
    await assert.rejects(admin.addUser('bob', ['nope']), (e: TapgateError) => e.code === 'unknown_role');
    await admin.addUser('bob', ['access']);
    await assert.rejects(admin.addUser('bob', ['access']), (e: TapgateError) => e.code === 'user_exists');
    await assert.rejects(admin.addUser('Bad Name', ['access']), (e: TapgateError) => e.code === 'bad_user_name');
  });

  it('removes the last key only with force, auditing the refusal and the removal', async () => {
    const { admin, key, audit, users, clock } = await setup();
    await admin.addUser('alice', ['access']);
    await key('cred-one');
    await key('cred-two');
    await admin.removeKey('alice', 'cred-one');
    clock.advance(1);
    await assert.rejects(admin.removeKey('alice', 'cred-two'), (e: TapgateError) => e.code === 'last_key' && /--force/.test(e.message));
    assert.equal((await users.credentials('alice')).length, 1);
    clock.advance(1);
    await admin.removeKey('alice', 'cred-t', true);
    assert.equal((await users.credentials('alice')).length, 0);
    const recs = await audit.list({ event: 'mfa_device.removed' });
    assert.deepEqual(recs.map((r) => [r.outcome, r.reason]), [['ok', null], ['refused', 'last key needs --force'], ['ok', 'last key removed with --force']]);
  });
});
