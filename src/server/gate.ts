import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import pino, { type Logger } from 'pino';
import { ensureDefaultRole } from '../auth/default-role';
import { RoleRepo } from '../auth/roles';
import type { GateConfig } from '../config/config';
import { systemClock, type Clock } from '../core/clock';
import { TapgateError } from '../core/errors';
import { Locks } from '../locks/locks';
import { CertificateAuthority } from '../pki/ca';
import { openDb } from '../store/open';
import { buildApi, type GateApp } from './api';
import { gateAssets } from './assets';
import type { GateContext } from './context';
import { startKubeListener } from './kube/listener';
import { MeteredAuditLog } from './metered-audit';
import { createMetrics } from './metrics';
import { createServices, type GateServices } from './services';

export interface Gate {
  ctx: GateContext;
  services: GateServices;
  /** where the API and pages listen, e.g. https://localhost:3025 (the real port when 0 was asked) */
  apiUrl: string;
  /** the kube access listener, e.g. https://127.0.0.1:3026 */
  kubeUrl: string;
  close(): Promise<void>;
}

export interface StartGateOptions {
  clock?: Clock;
  logger?: Logger;
  /** overrides the port of config.listen.api; 0 picks a free one (tests) */
  apiPort?: number;
}

/** The self-signed host certificate lives this long; it is issued again at every start. */
const HOST_CERT_TTL_MS = 90 * 24 * 3_600_000;

/**
 * Starts the gate: store (with migrations), CAs, TLS identity, locks, the HTTPS API with the
 * enrolment, login and tap pages, and the kube listener.
 */
export async function startGate(input: GateConfig, opts: StartGateOptions = {}): Promise<Gate> {
  const config: GateConfig = structuredClone(input);
  const clock = opts.clock ?? systemClock;
  const log = opts.logger ?? pino({ level: config.log_level, base: { svc: 'tapgate' } }, pino.destination(2));
  const metrics = createMetrics();
  const db = await openDb(config.storage);
  const cleanup: (() => Promise<void> | void)[] = [() => db.close()];
  const closeAll = async () => {
    for (const fn of cleanup.reverse()) await Promise.resolve(fn()).catch((e: unknown) => log.warn({ err: e }, 'error while closing'));
  };
  try {
    const audit = new MeteredAuditLog(db, clock, log, metrics);
    const roles = new RoleRepo(db);
    if (await ensureDefaultRole(roles, audit, clock.now())) log.info('created the default role "access"');
    const locks = new Locks(db, audit, clock);
    await locks.start();
    cleanup.push(() => locks.stop());
    const cas = {
      user: await CertificateAuthority.loadOrCreate(db, 'user', clock),
      bot: await CertificateAuthority.loadOrCreate(db, 'bot', clock),
      host: await CertificateAuthority.loadOrCreate(db, 'host', clock),
    };
    const tls = await tlsIdentity(config, cas.host);
    const ctx: GateContext = { config, db, clock, log, audit, locks, roles, cas, tls, metrics };
    const services = await createServices(ctx);
    await gateAssets();

    const app = buildApi(ctx, services);
    cleanup.push(() => app.close());
    // Runs before app.close (cleanup runs in reverse): wakes long polls so closing does not wait for them.
    cleanup.push(() => services.waiters.close());
    const apiUrl = await listen(app, config, opts.apiPort);

    const kube = await startKubeListener(ctx);
    cleanup.push(() => kube.close());
    const kubeUrl = kube.url;
    config.listen.kube = config.listen.kube.replace(/:\d+$/, `:${new URL(kube.url).port}`); // the bound port (0 asks for any), for URLs handed to bots
    log.info({ apiUrl, kubeUrl, publicUrl: config.public_url }, 'gate started');

    let closing: Promise<void> | undefined;
    return { ctx, services, apiUrl, kubeUrl, close: () => (closing ??= closeAll()) };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

/**
 * Listens on config.listen.api. When the public URL was not set (it defaults to
 * https://localhost:<configured port>) or names port 0, it follows the port actually bound, so
 * the WebAuthn origin is right for tests that listen on port 0.
 */
async function listen(app: GateApp, config: GateConfig, portOverride?: number): Promise<string> {
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(config.listen.api);
  if (!m) throw new TapgateError('bad_config', `listen.api "${config.listen.api}" is not host:port`);
  const host = m[1]!;
  const configured = m[2]!;
  const port = portOverride ?? Number(configured);
  try {
    await app.listen({ host, port });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new TapgateError('port_in_use', `cannot listen on ${host}:${port}: the port is in use; stop the other process or set listen.api in tapgate.yaml`);
    throw e;
  }
  const actual = (app.server.address() as AddressInfo).port;
  const url = new URL(config.public_url);
  if (config.public_url === `https://localhost:${configured}` || url.port === '0') {
    url.port = String(actual);
    const publicUrl = url.origin;
    config.origins = config.origins.map((o) => (o === config.public_url ? publicUrl : o));
    config.public_url = publicUrl;
  }
  config.listen.api = `${host.includes(':') ? `[${host}]` : host}:${actual}`;
  const shown = host === '0.0.0.0' || host === '::' || host === '127.0.0.1' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `https://${shown}:${actual}`;
}

/** The TLS identity both listeners serve: the configured files, or a host certificate from the host CA. */
async function tlsIdentity(config: GateConfig, hostCa: CertificateAuthority): Promise<GateContext['tls']> {
  if (config.tls) {
    const read = (what: string, file: string) => {
      try {
        return readFileSync(file, 'utf8');
      } catch (e) {
        throw new TapgateError('bad_config', `tls.${what}: cannot read ${file}: ${(e as Error).message}`);
      }
    };
    // A certificate from a public CA: clients use their system trust store.
    return { certPem: read('cert_file', config.tls.cert_file), keyPem: read('key_file', config.tls.key_file), caPem: '' };
  }
  const hosts = new Set(['localhost', '127.0.0.1', '::1', new URL(config.public_url).hostname.replace(/^\[|\]$/g, '')]);
  const listenHost = config.listen.api.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  if (listenHost !== '0.0.0.0' && listenHost !== '::') hosts.add(listenHost);
  const issued = await hostCa.issueServerCert({ hosts: [...hosts], ttlMs: HOST_CERT_TTL_MS });
  return { certPem: issued.certPem, keyPem: issued.keyPem!, caPem: hostCa.certPem };
}
