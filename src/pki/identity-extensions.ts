import * as der from './der';
import type { CertUsage, Identity } from './identity';
import { IDENTITY_OIDS } from './oids';

/**
 * Identity <-> X.509 extensions. Each field is its own non-critical extension under the private
 * arc whose value is a DER UTF8String: plain text for strings, decimal for numbers, "true"/"false"
 * for booleans, a JSON array for lists (readable in `openssl x509 -text`). Empty lists and absent
 * optional fields are left out and read back as [] / undefined.
 */

type Field = keyof Identity;
type ListField = 'roles' | 'kubeUsers' | 'kubeGroups' | 'clusters';
type TextField = 'name' | 'mfaDevice' | 'botInstance' | 'joinToken';
type NumberField = 'mfaVerifiedAt' | 'loginExpires' | 'generation';

const LIST_FIELDS: ListField[] = ['roles', 'kubeUsers', 'kubeGroups', 'clusters'];
const TEXT_FIELDS: TextField[] = ['mfaDevice', 'botInstance', 'joinToken'];
const NUMBER_FIELDS: NumberField[] = ['mfaVerifiedAt', 'loginExpires', 'generation'];
const USAGES: readonly CertUsage[] = ['login', 'mfa', 'bot', 'local-client', 'host'];
const KINDS: readonly Identity['kind'][] = ['user', 'bot', 'local'];

/** One extension as found in a certificate; `oidKey` is the OID's content bytes as latin1. */
export interface RawExtension {
  oidKey: string;
  critical: boolean;
  value: Buffer;
}

export const oidKey = (dotted: string): string => der.oidContent(dotted).toString('latin1');

const FIELD_BY_OID_KEY = new Map<string, Field>(
  (Object.entries(IDENTITY_OIDS) as [Field, string][]).map(([f, o]) => [oidKey(o), f]),
);

export class IdentityEncodingError extends Error {}

function extension(field: Field, text: string): Buffer {
  return der.seq(der.oid(IDENTITY_OIDS[field]), der.octets(der.utf8(text)));
}

function checkText(field: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) throw new IdentityEncodingError(`identity ${field} must be a non-empty string`);
  return v;
}

function checkList(field: string, v: unknown): string[] {
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) {
    throw new IdentityEncodingError(`identity ${field} must be a list of strings`);
  }
  return v as string[];
}

function checkInt(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new IdentityEncodingError(`identity ${field} must be a non-negative integer`);
  }
  return v;
}

/** The extensions carrying `identity`, one per present field. Refuses values that would not read back. */
export function identityExtensions(identity: Identity): Buffer[] {
  if (!USAGES.includes(identity.usage)) throw new IdentityEncodingError(`unknown certificate usage ${identity.usage}`);
  if (!KINDS.includes(identity.kind)) throw new IdentityEncodingError(`unknown identity kind ${identity.kind}`);
  const out = [
    extension('usage', identity.usage),
    extension('kind', identity.kind),
    extension('name', checkText('name', identity.name)),
  ];
  for (const f of LIST_FIELDS) {
    const list = checkList(f, identity[f]);
    if (list.length > 0) out.push(extension(f, JSON.stringify(list)));
  }
  for (const f of TEXT_FIELDS) {
    const v = identity[f];
    if (v !== undefined) out.push(extension(f, checkText(f, v)));
  }
  for (const f of NUMBER_FIELDS) {
    const v = identity[f];
    if (v !== undefined) out.push(extension(f, String(checkInt(f, v))));
  }
  if (identity.renewable !== undefined) {
    if (typeof identity.renewable !== 'boolean') throw new IdentityEncodingError('identity renewable must be a boolean');
    out.push(extension('renewable', String(identity.renewable)));
  }
  return out;
}

function readText(value: Buffer): string {
  const outer = der.expect(value, 0, der.TAG.UTF8_STRING);
  if (outer.end !== value.length) throw new IdentityEncodingError('trailing bytes in an identity extension');
  return value.toString('utf8', outer.start, outer.end);
}

/**
 * Reads the identity back from a certificate's extensions; extensions outside the identity arc
 * are ignored. Returns undefined when the certificate carries no identity at all (e.g. a TLS
 * server certificate) and throws IdentityEncodingError when it carries a malformed one.
 */
export function readIdentity(extensions: RawExtension[]): Identity | undefined {
  const found = new Map<Field, string>();
  for (const ext of extensions) {
    const f = FIELD_BY_OID_KEY.get(ext.oidKey);
    if (!f) continue;
    if (found.has(f)) throw new IdentityEncodingError(`identity ${f} appears twice`);
    found.set(f, readText(ext.value));
  }
  if (found.size === 0) return undefined;

  const usage = found.get('usage') as CertUsage | undefined;
  const kind = found.get('kind') as Identity['kind'] | undefined;
  if (!usage || !USAGES.includes(usage)) throw new IdentityEncodingError(`unknown certificate usage ${usage}`);
  if (!kind || !KINDS.includes(kind)) throw new IdentityEncodingError(`unknown identity kind ${kind}`);
  const list = (f: ListField): string[] => {
    const text = found.get(f);
    if (text === undefined) return [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new IdentityEncodingError(`identity ${f} is not a JSON list`);
    }
    return checkList(f, parsed);
  };
  const int = (f: NumberField): number | undefined => {
    const text = found.get(f);
    if (text === undefined) return undefined;
    if (!/^\d{1,16}$/.test(text)) throw new IdentityEncodingError(`identity ${f} is not a number`);
    return checkInt(f, Number(text));
  };

  const identity: Identity = {
    usage,
    kind,
    name: checkText('name', found.get('name')),
    roles: list('roles'),
    kubeUsers: list('kubeUsers'),
    kubeGroups: list('kubeGroups'),
    clusters: list('clusters'),
  };
  const mfaDevice = found.get('mfaDevice');
  if (mfaDevice !== undefined) identity.mfaDevice = mfaDevice;
  const mfaVerifiedAt = int('mfaVerifiedAt');
  if (mfaVerifiedAt !== undefined) identity.mfaVerifiedAt = mfaVerifiedAt;
  const loginExpires = int('loginExpires');
  if (loginExpires !== undefined) identity.loginExpires = loginExpires;
  const botInstance = found.get('botInstance');
  if (botInstance !== undefined) identity.botInstance = botInstance;
  const generation = int('generation');
  if (generation !== undefined) identity.generation = generation;
  const renewable = found.get('renewable');
  if (renewable !== undefined) {
    if (renewable !== 'true' && renewable !== 'false') throw new IdentityEncodingError('identity renewable is not true/false');
    identity.renewable = renewable === 'true';
  }
  const joinToken = found.get('joinToken');
  if (joinToken !== undefined) identity.joinToken = joinToken;
  return identity;
}
