import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import YAML from 'yaml';
import { parseRole, roleToDoc } from '../../auth/roles';
import { loadConfig } from '../../config/config';
import { formatDuration } from '../../core/duration';
import { TapgateError } from '../../core/errors';
import { openAdmin, type AdminContext } from '../../server/admin';

/**
 * Resource commands in the style of tctl: `tapgate create -f`, `get`, `rm`. Also the shared
 * bits every admin command uses: the --config / --data-dir options, the store, output formats.
 */

export interface StoreOptions {
  config?: string;
  dataDir?: string;
}

export function withStoreOptions(cmd: Command): Command {
  return cmd.option('-c, --config <file>', 'gate config file (default: ./tapgate.yaml if present)').option('-d, --data-dir <dir>', 'gate data directory (default: ~/.tapgate/server)');
}

/** Opens the gate's store for one admin command and closes it afterwards. */
export async function withAdmin<T>(opts: StoreOptions, fn: (a: AdminContext) => Promise<T>): Promise<T> {
  const config = loadConfig(opts.config, opts.dataDir ? { data_dir: opts.dataDir } : {});
  const admin = await openAdmin(config, `admin:${safeUser()}`);
  try {
    return await fn(admin);
  } finally {
    await admin.close();
  }
}

export type OutputFormat = 'text' | 'yaml' | 'json';

export function outputFormat(v: string | undefined): OutputFormat {
  const f = v ?? 'text';
  if (f !== 'text' && f !== 'yaml' && f !== 'json') throw new TapgateError('bad_format', `unknown output format "${f}"; use text, yaml or json`);
  return f;
}

/** Aligned columns for terminal output. */
export function formatTable(header: string[], rows: string[][]): string {
  if (rows.length === 0) return '';
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return `${all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n')}\n`;
}

export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') || text === '' ? text : `${text}\n`);
}

export function printDocs(docs: unknown[], format: 'yaml' | 'json'): void {
  if (format === 'json') print(JSON.stringify(docs.length === 1 ? docs[0] : docs, null, 2));
  else print(docs.map((d) => YAML.stringify(d)).join('---\n'));
}

export function formatTime(ms: number | null | undefined): string {
  return ms ? new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z') : '-';
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

function readInput(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new TapgateError('bad_file', `cannot read ${file}: ${(e as Error).message}`);
  }
}

export function register(program: Command): void {
  withStoreOptions(
    program
      .command('create')
      .description('create or update resources from a YAML file (several documents allowed; kind: role)')
      .requiredOption('-f, --file <file>', 'YAML file, or - for stdin'),
  ).action(async (opts: StoreOptions & { file: string }) => {
    const docs = YAML.parseAllDocuments(readInput(opts.file));
    const roles = docs.map((d, i) => {
      if (d.errors.length) throw new TapgateError('bad_yaml', `${opts.file}: document ${i + 1}: ${d.errors[0]!.message.split('\n')[0]}`);
      const doc = d.toJS() as { kind?: unknown } | null;
      if (doc === null) return undefined;
      if (doc.kind !== 'role') throw new TapgateError('bad_kind', `${opts.file}: document ${i + 1}: kind "${String(doc.kind)}" cannot be created here; this command takes kind: role`);
      return parseRole(doc, `${opts.file} document ${i + 1}`);
    });
    await withAdmin(opts, async (a) => {
      for (const role of roles) {
        if (!role) continue;
        const existed = !!(await a.roles.get(role.name));
        await a.roles.upsert(role, a.clock.now());
        await a.audit.record({ event: existed ? 'role.updated' : 'role.created', outcome: 'ok', actor: a.actor, data: { name: role.name, spec: role.spec } });
        print(`role "${role.name}" ${existed ? 'updated' : 'created'}`);
      }
    });
  });

  withStoreOptions(
    program
      .command('get')
      .description('show resources: roles, users or locks')
      .argument('<kind>', 'roles | users | locks')
      .argument('[name]', 'only this one')
      .option('-o, --output <format>', 'text, yaml or json'),
  ).action(async (kind: string, name: string | undefined, opts: StoreOptions & { output?: string }) => {
    const format = outputFormat(opts.output);
    await withAdmin(opts, async (a) => {
      switch (kind.replace(/s$/, '')) {
        case 'role': {
          const roles = (await a.roles.list()).filter((r) => !name || r.name === name);
          if (name && roles.length === 0) throw new TapgateError('not_found', `role "${name}" does not exist`);
          if (format !== 'text') return printDocs(roles.map(roleToDoc), format);
          return print(
            formatTable(
              ['NAME', 'CLUSTERS', 'KUBE GROUPS', 'SESSION', 'MFA INTERVAL'],
              roles.map((r) => [r.name, r.spec.kube_clusters.join(','), r.spec.kubernetes_groups.join(',') || '-', formatDuration(r.spec.max_session_ttl), formatDuration(r.spec.mfa_verification_interval)]),
            ),
          );
        }
        case 'user': {
          const users = (await a.users.list()).filter((u) => !name || u.name === name);
          if (name && users.length === 0) throw new TapgateError('not_found', `user "${name}" does not exist`);
          if (format !== 'text') return printDocs(users.map((u) => ({ kind: 'user', metadata: { name: u.name }, spec: { roles: u.roles, keys: u.keys, created: formatTime(u.createdAt) } })), format);
          return print(formatTable(['NAME', 'ROLES', 'KEYS', 'CREATED'], users.map((u) => [u.name, u.roles.join(','), String(u.keys), formatTime(u.createdAt)])));
        }
        case 'lock': {
          const locks = (await a.locks.list()).filter((l) => !name || l.id === name);
          if (format !== 'text') return printDocs(locks.map((l) => ({ kind: 'lock', metadata: { name: l.id }, spec: l })), format);
          return print(formatTable(['ID', 'TARGET', 'EXPIRES', 'MESSAGE'], locks.map((l) => [l.id, `${l.targetKind}=${l.target}`, formatTime(l.expiresAt), l.message])));
        }
        default:
          throw new TapgateError('bad_kind', `unknown resource "${kind}"; use roles, users or locks`);
      }
    });
  });

  withStoreOptions(program.command('rm').description('remove a resource: role/NAME, user/NAME or lock/ID').argument('<ref>', 'kind/name')).action(async (ref: string, opts: StoreOptions) => {
    const m = /^(role|user|lock)s?\/(.+)$/.exec(ref);
    if (!m) throw new TapgateError('bad_ref', `"${ref}" is not kind/name; e.g. role/dev, user/alice or lock/<id>`);
    const [, kind, name] = m as unknown as [string, string, string];
    await withAdmin(opts, async (a) => {
      if (kind === 'role') {
        const holders = (await a.users.list()).filter((u) => u.roles.includes(name)).map((u) => u.name);
        if (holders.length) throw new TapgateError('role_in_use', `role "${name}" is held by ${holders.join(', ')}; change their roles first ("tapgate users update NAME --roles ...")`);
        if (!(await a.roles.remove(name))) throw new TapgateError('not_found', `role "${name}" does not exist`);
        await a.audit.record({ event: 'role.removed', outcome: 'ok', actor: a.actor, data: { name } });
      } else if (kind === 'user') {
        await a.userAdmin.removeUser(name);
      } else if (!(await a.locks.remove(name, a.actor))) {
        throw new TapgateError('not_found', `lock "${name}" does not exist; see "tapgate locks ls"`);
      }
      print(`${kind} "${name}" removed`);
    });
  });
}
