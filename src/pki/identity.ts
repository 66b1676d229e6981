/**
 * Who a certificate speaks for. Every field is carried in its own X.509 extension under the
 * private OID arc in oids.ts; `parseAndVerify` in ca.ts reads them back.
 */
export type CertUsage = 'login' | 'mfa' | 'bot' | 'local-client' | 'host';

export interface Identity {
  usage: CertUsage;
  kind: 'user' | 'bot' | 'local';
  /** user name, bot name, or a label for local client certs */
  name: string;
  roles: string[];
  kubeUsers: string[];
  kubeGroups: string[];
  /** clusters this certificate may reach (MFA and bot certificates) */
  clusters: string[];
  /** credential id (base64url) of the security key that was tapped */
  mfaDevice?: string;
  /** when the tap happened, epoch ms */
  mfaVerifiedAt?: number;
  /** when the login session this certificate descends from ends, epoch ms */
  loginExpires?: number;
  botInstance?: string;
  generation?: number;
  renewable?: boolean;
  /** the join token an instance joined with (for token locks) */
  joinToken?: string;
}

export interface VerifiedCert {
  identity: Identity;
  serial: string;
  notBefore: number;
  notAfter: number;
  /** sha256 of the DER, hex */
  fingerprint: string;
  /** sha256 of the subject public key (SPKI DER), hex: ties a renewal to the key that asked */
  publicKeyFingerprint: string;
}
