import { z } from 'zod';
import { parseDuration } from '../core/duration';
import { TapgateError } from '../core/errors';
import type { Db } from '../store/db';

const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  try {
    return parseDuration(v);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
    return z.NEVER;
  }
});

export const roleSpecSchema = z
  .object({
    kubernetes_users: z.array(z.string().min(1)).default([]),
    kubernetes_groups: z.array(z.string().min(1)).default([]),
    kube_clusters: z.array(z.string().min(1)).default(['*']),
    max_session_ttl: duration.default(12 * 3_600_000),
    require_session_mfa: z.boolean().default(true),
    mfa_verification_interval: duration.default(15 * 60_000),
    disconnect_expired_cert: z.boolean().default(false),
  })
  .strict();

export const roleSchema = z
  .object({
    kind: z.literal('role'),
    version: z.literal('v1').default('v1'),
    metadata: z.object({ name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'role names use a-z, 0-9, ".", "_" and "-"') }).strict(),
    spec: roleSpecSchema.default(roleSpecSchema.parse({})),
  })
  .strict();

export type RoleSpec = z.infer<typeof roleSpecSchema>;
export interface Role {
  name: string;
  spec: RoleSpec;
}

/** Validates a role document (already parsed from YAML/JSON); errors name the offending key. */
export function parseRole(doc: unknown, source = 'role'): Role {
  const r = roleSchema.safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const where = issue.path.length ? issue.path.join('.') : '(top level)';
    throw new TapgateError('bad_role', `${source}: ${where}: ${issue.message}`);
  }
  return { name: r.data.metadata.name, spec: r.data.spec };
}

export function roleToDoc(role: Role): Record<string, unknown> {
  return { kind: 'role', version: 'v1', metadata: { name: role.name }, spec: role.spec };
}

/** Parsed specs kept per role; far more than any deployment defines, so it never thrashes. */
const PARSED_CAP = 1_000;

const copyRole = (r: Role): Role => ({
  name: r.name,
  spec: { ...r.spec, kubernetes_users: [...r.spec.kubernetes_users], kubernetes_groups: [...r.spec.kubernetes_groups], kube_clusters: [...r.spec.kube_clusters] },
});

export class RoleRepo {
  /**
   * The last spec text read for each role and what it parsed to. Every read still asks the store,
   * so an edit from any replica or the admin CLI counts at once; only an unchanged text skips the
   * JSON and schema parse (~30 µs, paid on every certificate issued).
   */
  private readonly parsed = new Map<string, { text: string; role: Role }>();

  constructor(private readonly db: Db) {}

  async upsert(role: Role, now = Date.now()): Promise<void> {
    await this.db.run(
      'INSERT INTO roles (name, spec, updated_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at',
      [role.name, JSON.stringify(role.spec), now],
    );
  }

  async get(name: string): Promise<Role | undefined> {
    const row = await this.db.get<{ name: string; spec: string }>('SELECT name, spec FROM roles WHERE name = $1', [name]);
    return row && this.fromRow(row);
  }

  /** A fresh copy each time: callers may change what they get without touching the memo. */
  private fromRow(row: { name: string; spec: string }): Role {
    let hit = this.parsed.get(row.name);
    if (hit?.text !== row.spec) {
      hit = { text: row.spec, role: { name: row.name, spec: roleSpecSchema.parse(JSON.parse(row.spec)) } };
      if (this.parsed.size >= PARSED_CAP) this.parsed.clear();
      this.parsed.set(row.name, hit);
    }
    return copyRole(hit.role);
  }

  async list(): Promise<Role[]> {
    const rows = await this.db.all<{ name: string; spec: string }>('SELECT name, spec FROM roles ORDER BY name');
    return rows.map((r) => this.fromRow(r));
  }

  async remove(name: string): Promise<boolean> {
    return (await this.db.run('DELETE FROM roles WHERE name = $1', [name])).changes > 0;
  }

  /** Resolves role names to roles; an unknown name is an error the admin must fix. */
  async resolve(names: string[]): Promise<Role[]> {
    const out: Role[] = [];
    for (const n of names) {
      const r = await this.get(n);
      if (!r) throw new TapgateError('unknown_role', `role "${n}" does not exist; create it with "tapgate create -f role.yaml"`, { status: 403, auditReason: 'unknown role' });
      out.push(r);
    }
    return out;
  }
}
