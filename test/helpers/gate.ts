/**
 * A real gate for tests, on free ports, with a throwaway data dir, and the steps a person does
 * in Chromium (enrol a key, sign in, tap) driven through the gate's own pages.
 *
 *   const browser = await launchChromium();
 *   const tg = await startTestGate({ clusters: ['dev'] });
 *   const { page } = await newGatePage(browser);
 *   await addVirtualAuthenticator(page);
 *   await tg.enrolUser('alice', ['access'], page);
 *   const { client, state, home } = await tg.login('alice', page);   // TAPGATE_HOME = home
 *   const req = await client.createMfaRequest({ clusters: ['dev'], publicKeyPem, requester: { host: 'test' } });
 *   await tg.tap(page, req.tapUrl);
 *   const grant = await client.waitMfaRequest(req.id);
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { AuditRecord } from '../../src/audit/audit';
import { parseRole } from '../../src/auth/roles';
import { GateClient } from '../../src/client/api-client';
import { login as cliLogin } from '../../src/client/login';
import type { LoginState } from '../../src/client/profile';
import { parseConfig, type ClusterConfig } from '../../src/config/config';
import type { Clock } from '../../src/core/clock';
import { startGate, type Gate } from '../../src/server/gate';

export interface TestGateOptions {
  /** role documents as in role.yaml (kind: role, metadata.name, spec); `access` exists by default */
  roles?: unknown[];
  /**
   * cluster names, or full cluster entries of tapgate.yaml; a bare name gets a placeholder
   * kubeconfig whose API server is unreachable (enough for everything short of kube requests)
   */
  clusters?: (string | Partial<ClusterConfig>)[];
  clock?: Clock;
  /** more tapgate.yaml settings */
  config?: Record<string, unknown>;
}

export interface PageStatus {
  kind: 'ok' | 'error' | 'info' | 'working' | '';
  text: string;
}

export interface TestLogin {
  /** the TAPGATE_HOME the profile was saved in */
  home: string;
  state: LoginState;
  /** authenticated with the login certificate */
  client: GateClient;
}

export interface TestGate {
  gate: Gate;
  dataDir: string;
  /** the gate's API and page URL */
  url: string;
  /** CA the gate's TLS chains to */
  caPem: string;
  audit(q?: { event?: string; outcome?: 'ok' | 'refused'; actor?: string }): Promise<AuditRecord[]>;
  /** A one-time enrolment link; creates the user if new. */
  enrolLink(name: string, roles?: string[]): Promise<string>;
  /** Creates the user if new and registers a key with the page's authenticator; returns the credential id. */
  enrolUser(name: string, roles: string[], page: Page): Promise<string>;
  /** Runs `tapgate login` against the gate, signing in on the page; saves the profile in a fresh home. */
  login(name: string, page: Page, opts?: { ttlMs?: number; beforeSignIn?: (page: Page) => Promise<void> }): Promise<TestLogin>;
  /** Opens a tap URL and approves it with the page's authenticator. */
  tap(page: Page, tapUrl: string): Promise<PageStatus>;
  close(): Promise<void>;
}

export async function startTestGate(opts: TestGateOptions = {}): Promise<TestGate> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tapgate-gate-'));
  const homes: string[] = [];
  const clients: GateClient[] = [];
  const config = parseConfig({
    data_dir: dataDir,
    listen: { api: '127.0.0.1:0', kube: '127.0.0.1:0' },
    log_level: process.env.TAPGATE_TEST_LOG ?? 'silent',
    clusters: (opts.clusters ?? []).map((c) => (typeof c === 'string' ? { name: c, kubeconfig: placeholderKubeconfig(dataDir) } : c)),
    ...opts.config,
  });
  const gate = await startGate(config, { clock: opts.clock });
  const { ctx, services } = gate;
  for (const doc of opts.roles ?? []) await ctx.roles.upsert(parseRole(doc), ctx.clock.now());

  const enrolLink = async (name: string, roles: string[] = ['access']): Promise<string> => {
    if (await services.users.get(name)) return (await services.userAdmin.addKeyLink(name)).url;
    return (await services.userAdmin.addUser(name, roles)).link.url;
  };

  const tg: TestGate = {
    gate,
    dataDir,
    url: gate.ctx.config.public_url,
    caPem: ctx.tls.caPem,
    audit: (q = {}) => ctx.audit.list(q),
    enrolLink,
    async enrolUser(name, roles, page) {
      const url = await enrolLink(name, roles);
      await page.goto(url);
      await page.click('#register');
      const status = await settledStatus(page);
      if (status.kind !== 'ok') throw new Error(`enrolment of ${name} failed: ${status.text}`);
      const keys = await services.users.credentials(name);
      return keys[keys.length - 1]!.id;
    },
    async login(name, page, o = {}) {
      const home = mkdtempSync(join(tmpdir(), 'tapgate-home-'));
      homes.push(home);
      let pageDone: Promise<PageStatus> | undefined;
      const state = await cliLogin({
        server: tg.url,
        caPem: tg.caPem,
        home,
        ttlMs: o.ttlMs,
        timeoutMs: 60_000,
        onUrl: async (url) => {
          await page.goto(url);
          await o.beforeSignIn?.(page);
          await page.click('#signin');
          pageDone = settledStatus(page);
          const s = await pageDone;
          if (s.kind !== 'ok') throw new Error(`login of ${name} failed on the page: ${s.text}`);
        },
      });
      if (state.profile.user !== name) throw new Error(`logged in as ${state.profile.user}, expected ${name}`);
      const client = new GateClient({ server: tg.url, caPem: tg.caPem, certPem: state.certPem, keyPem: state.keyPem });
      clients.push(client);
      return { home, state, client };
    },
    async tap(page, tapUrl) {
      await page.goto(tapUrl);
      await page.click('#approve');
      const status = await settledStatus(page);
      if (status.kind !== 'ok') throw new Error(`tap failed: ${status.text}`);
      return status;
    },
    async close() {
      for (const c of clients) await c.close().catch(() => undefined);
      await gate.close();
      for (const h of homes) rmSync(h, { recursive: true, force: true });
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return tg;
}

function placeholderKubeconfig(dir: string): string {
  const path = join(dir, 'placeholder.kubeconfig');
  writeFileSync(
    path,
    `apiVersion: v1
kind: Config
clusters: [{ name: none, cluster: { server: "https://127.0.0.1:9", insecure-skip-tls-verify: true } }]
users: [{ name: none, user: { token: placeholder } }]
contexts: [{ name: none, context: { cluster: none, user: none } }]
current-context: none
`,
    { mode: 0o600 },
  );
  return path;
}

/** Waits until the page's status line says ok or error (not "working"), and returns it. */
export async function settledStatus(page: Page, timeoutMs = 20_000): Promise<PageStatus> {
  await page.waitForSelector('#status.ok, #status.error', { timeout: timeoutMs });
  return pageStatus(page);
}

export async function pageStatus(page: Page): Promise<PageStatus> {
  return page.$eval('#status', (el) => ({
    kind: (['ok', 'error', 'info', 'working'].find((k) => el.classList.contains(k)) ?? '') as PageStatus['kind'],
    text: el.textContent ?? '',
  }));
}
