import type { GateApp } from '../api';
import type { GateServices } from '../services';
import { validate } from '../validate';
import { ceremonyBody } from './ceremony-schemas';

/** Registering a key through an enrolment link (the enrolment page calls these). */
export function enrolRoutes(app: GateApp, svc: GateServices): void {
  app.post('/v1/enrol/:token/options', async (req) => {
    const { token } = req.params as { token: string };
    return svc.enrolment.begin(token);
  });

  app.post('/v1/enrol/:token/verify', async (req) => {
    const { token } = req.params as { token: string };
    const body = validate(ceremonyBody, req.body);
    const done = await svc.enrolment.finish(token, body);
    return { user: done.userName, credentialId: done.credentialId, keyName: done.keyName };
  });
}
