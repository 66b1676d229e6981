import type { Identity } from './identity';

/**
 * Tapgate's private OID arc. 1.3.6.1.4.1 is IANA's private-enterprise arc; 58793 is a
 * placeholder enterprise number: register Tapgate's own (free, at iana.org) before a release
 * and change it here only, before any certificates exist in the wild.
 */
export const TAPGATE_ARC = '1.3.6.1.4.1.58793';

/** Identity fields, one X.509 extension each: TAPGATE_ARC.1.<n>. Numbers are never reused. */
export const IDENTITY_OIDS = {
  usage: `${TAPGATE_ARC}.1.1`,
  kind: `${TAPGATE_ARC}.1.2`,
  name: `${TAPGATE_ARC}.1.3`,
  roles: `${TAPGATE_ARC}.1.4`,
  kubeUsers: `${TAPGATE_ARC}.1.5`,
  kubeGroups: `${TAPGATE_ARC}.1.6`,
  clusters: `${TAPGATE_ARC}.1.7`,
  mfaDevice: `${TAPGATE_ARC}.1.8`,
  mfaVerifiedAt: `${TAPGATE_ARC}.1.9`,
  loginExpires: `${TAPGATE_ARC}.1.10`,
  botInstance: `${TAPGATE_ARC}.1.11`,
  generation: `${TAPGATE_ARC}.1.12`,
  renewable: `${TAPGATE_ARC}.1.13`,
  joinToken: `${TAPGATE_ARC}.1.14`,
} as const satisfies Record<keyof Identity, string>;

/** The standard OIDs the certificates use (RFC 5280, RFC 5480, RFC 5758). */
export const X509_OIDS = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  organizationalUnit: '2.5.4.11',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
} as const;
