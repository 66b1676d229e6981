import { Challenges } from '../auth/challenges';
import { Enrolment } from '../auth/enrolment';
import { EnrolmentLinks } from '../auth/enrolment-links';
import { LoginSessions } from '../auth/login-sessions';
import { MfaRequests } from '../auth/mfa-requests';
import { StatusWaiters } from '../auth/status-waiters';
import { UserAdmin } from '../auth/user-admin';
import { UserRepo } from '../auth/users';
import { RelyingParty } from '../auth/webauthn';
import type { GateContext } from './context';

/** The auth ceremonies the API routes drive, wired to one gate context. */
export interface GateServices {
  users: UserRepo;
  links: EnrolmentLinks;
  userAdmin: UserAdmin;
  rp: RelyingParty;
  enrolment: Enrolment;
  logins: LoginSessions;
  mfa: MfaRequests;
  waiters: StatusWaiters;
}

export const STATUS_CHANNEL = 'tapgate_auth_status';

export async function createServices(ctx: GateContext): Promise<GateServices> {
  const { db, clock, audit, roles, locks } = ctx;
  const users = new UserRepo(db);
  const links = new EnrolmentLinks(db);
  const challenges = new Challenges(db, clock);
  // Read through ctx.config each time: the public URL is fixed only once the port is known.
  const rp = new RelyingParty(() => ({ rpId: ctx.config.rp_id, rpName: ctx.config.webauthn.rp_name, origins: ctx.config.origins }));
  const waiters = new StatusWaiters(db, STATUS_CHANNEL);
  await waiters.start();
  const ceremony = { db, clock, audit, users, roles, locks, challenges, rp, userCa: ctx.cas.user, waiters };
  return {
    users,
    links,
    rp,
    waiters,
    userAdmin: new UserAdmin({ users, roles, links, audit, clock, enrolmentTtlMs: ctx.config.enrolment_ttl_ms, publicUrl: () => ctx.config.public_url }),
    enrolment: new Enrolment({ db, clock, audit, users, links, challenges, rp }),
    logins: new LoginSessions(ceremony),
    mfa: new MfaRequests({ ...ceremony, clusterNames: () => ctx.config.clusters.map((c) => c.name) }),
  };
}
