import { AuditLog } from './src/audit/audit';
import { RoleRepo } from './src/auth/roles';
import { BotAdmin } from './src/bots/admin';
import { systemClock } from './src/core/clock';
import { openDb } from './src/store/open';
import { BotClient, newBotKey, Replica, type BotCreds } from './test/helpers/replica';
const storage = { type: 'sqlite' as const, path: '/tmp/probe-renew/t.db' };
const config = { data_dir: '/tmp/probe-renew', listen: { api: '127.0.0.1:0', kube: '127.0.0.1:0' }, storage, log_level: 'silent' };
const g = await Replica.start(config);
const db = await openDb(storage);
const admin = new BotAdmin({ db, roles: new RoleRepo(db), audit: new AuditLog(db), clock: systemClock });
await admin.addBot('p', ['access']);
const { text } = await admin.addToken({ bot: 'p', maxUses: 1, renewable: true });
const c = new BotClient(); const key = newBotKey();
let t = performance.now();
let creds = (await c.join(g, text, key)).body as unknown as BotCreds;
console.log('join', (performance.now() - t).toFixed(1));
for (let i = 0; i < 8; i++) { t = performance.now(); const r = await c.renew(g, creds, key); creds = r.body as any; console.log('renew', r.status, (performance.now() - t).toFixed(1)); }
for (let i = 0; i < 4; i++) { t = performance.now(); const r = await c.call(g, 'GET', '/healthz'); console.log('healthz', r.status, (performance.now() - t).toFixed(1)); }
await c.close(); await db.close(); await g.stop();
