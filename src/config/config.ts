import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { parseDuration } from '../core/duration';
import { TapgateError } from '../core/errors';

const hostPort = z.string().regex(/^[^\s:]+:\d+$|^\[[0-9a-f:]+\]:\d+$/i, 'write it as host:port, e.g. 127.0.0.1:3025');

const clusterSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'cluster names use a-z, 0-9, ".", "_" and "-"'),
    /** a kubeconfig file for the gate's own credentials; default: $KUBECONFIG or ~/.kube/config */
    kubeconfig: z.string().optional(),
    /** context in that kubeconfig; default: its current context */
    context: z.string().optional(),
    /** use the pod's service account (the gate runs in the cluster) */
    in_cluster: z.boolean().default(false),
  })
  .strict();

export const configSchema = z
  .object({
    data_dir: z.string().default(join(homedir(), '.tapgate', 'server')),
    /** the URL browsers use to reach the gate (the WebAuthn origin); default https://localhost:<api port> */
    public_url: z.string().url().optional(),
    /** the URL clients reach the kube listener at; default: public_url's host on the kube listener's port */
    public_kube_url: z.string().url().optional(),
    listen: z
      .object({
        api: hostPort.default('127.0.0.1:3025'),
        kube: hostPort.default('127.0.0.1:3026'),
      })
      .strict()
      .default({ api: '127.0.0.1:3025', kube: '127.0.0.1:3026' }),
    tls: z.object({ cert_file: z.string(), key_file: z.string() }).strict().optional(),
    storage: z
      .discriminatedUnion('type', [
        z.object({ type: z.literal('sqlite'), path: z.string().optional() }).strict(),
        z.object({ type: z.literal('postgres'), url: z.string().regex(/^postgres(ql)?:\/\//, 'use a postgres:// URL') }).strict(),
      ])
      .default({ type: 'sqlite' }),
    webauthn: z
      .object({
        rp_id: z.string().optional(),
        rp_name: z.string().default('Tapgate'),
        /** extra origins allowed besides public_url */
        origins: z.array(z.string().url()).default([]),
      })
      .strict()
      .default({ rp_name: 'Tapgate', origins: [] }),
    clusters: z.array(clusterSchema).default([]),
    enrolment_ttl: z.string().default('1h'),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strict();

export type RawConfig = z.infer<typeof configSchema>;
export type ClusterConfig = z.infer<typeof clusterSchema>;

export interface GateConfig extends Omit<RawConfig, 'storage' | 'public_url' | 'enrolment_ttl'> {
  storage: { type: 'sqlite'; path: string } | { type: 'postgres'; url: string };
  public_url: string;
  rp_id: string;
  origins: string[];
  enrolment_ttl_ms: number;
}

/** Validates a config object; errors name the key that is wrong. */
export function parseConfig(raw: unknown, source = 'tapgate.yaml'): GateConfig {
  const r = configSchema.safeParse(raw ?? {});
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const where = issue.path.length ? issue.path.join('.') : '(top level)';
    const what = issue.code === 'unrecognized_keys' ? `unknown key ${issue.keys.map((k) => `"${k}"`).join(', ')}` : issue.message;
    throw new TapgateError('bad_config', `${source}: ${where}: ${what}`);
  }
  const c = r.data;
  const dataDir = resolve(c.data_dir.replace(/^~(?=$|\/)/, homedir()));
  const apiPort = c.listen.api.split(':').pop();
  const publicUrl = (c.public_url ?? `https://localhost:${apiPort}`).replace(/\/$/, '');
  const names = new Set<string>();
  for (const cl of c.clusters) {
    if (names.has(cl.name)) throw new TapgateError('bad_config', `${source}: clusters: "${cl.name}" appears twice; cluster names must be unique`);
    names.add(cl.name);
  }
  return {
    ...c,
    data_dir: dataDir,
    storage: c.storage.type === 'sqlite' ? { type: 'sqlite', path: c.storage.path ?? join(dataDir, 'tapgate.db') } : c.storage,
    public_url: publicUrl,
    rp_id: c.webauthn.rp_id ?? new URL(publicUrl).hostname,
    origins: [publicUrl, ...c.webauthn.origins],
    enrolment_ttl_ms: parseDuration(c.enrolment_ttl, 'enrolment_ttl'),
  };
}

/** Loads tapgate.yaml if given (or present in the working dir); no file means all defaults. */
export function loadConfig(path?: string, overrides: Record<string, unknown> = {}): GateConfig {
  let raw: Record<string, unknown> = {};
  const file = path ?? (existsSync('tapgate.yaml') ? 'tapgate.yaml' : undefined);
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new TapgateError('bad_config', `cannot read config file ${file}: ${(e as Error).message}`);
    }
    try {
      raw = (YAML.parse(text) as Record<string, unknown>) ?? {};
    } catch (e) {
      throw new TapgateError('bad_config', `${file} is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new TapgateError('bad_config', `${file}: expected a mapping of settings at the top level`);
  }
  return parseConfig({ ...raw, ...overrides }, file ?? 'defaults');
}
