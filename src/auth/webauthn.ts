import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type AuthenticatorTransportFuture,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { decodeClientDataJSON, isoBase64URL, parseAuthenticatorData } from '@simplewebauthn/server/helpers';
import { z } from 'zod';
import { TapgateError } from '../core/errors';
import type { Credential, User } from './users';

/**
 * The WebAuthn relying party: options for the browser and verification of what comes back,
 * with every refusal turned into a TapgateError the page can show and the audit log can name.
 * Storage and policy live in the ceremonies (enrolment.ts, login-sessions.ts, mfa-requests.ts).
 */

const b64url = z.string().max(16_384).regex(/^[A-Za-z0-9_-]*$/, 'expected base64url');

export const registrationResponseSchema = z.object({
  id: b64url,
  rawId: b64url,
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: b64url,
    attestationObject: b64url,
    authenticatorData: b64url.optional(),
    transports: z.array(z.string().max(32)).max(10).optional(),
    publicKeyAlgorithm: z.number().optional(),
    publicKey: b64url.optional(),
  }),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
});

export const authenticationResponseSchema = z.object({
  id: b64url,
  rawId: b64url,
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: b64url,
    authenticatorData: b64url,
    signature: b64url,
    userHandle: b64url.optional(),
  }),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
});

export interface RpSettings {
  rpId: string;
  rpName: string;
  /** origins the browser may report; the gate's public URL first */
  origins: string[];
}

export interface NewCredential {
  id: string;
  publicKey: string;
  counter: number;
  transports: string[];
}

/**
 * A counter that does not move forward means the key (or a copy of it) signed something the gate
 * never saw. Authenticators that do not keep counters report 0 forever; that is allowed.
 */
export function counterRegressed(stored: number, received: number): boolean {
  return (stored > 0 || received > 0) && received <= stored;
}

export class RelyingParty {
  /** A getter, because the origin is only known once the API listener has its port. */
  constructor(private readonly settings: () => RpSettings) {}

  async registrationOptions(user: User, challenge: string, existing: Credential[]): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const s = this.settings();
    return generateRegistrationOptions({
      rpName: s.rpName,
      rpID: s.rpId,
      userName: user.name,
      userDisplayName: user.name,
      userID: isoBase64URL.toBuffer(user.webauthnId),
      challenge: isoBase64URL.toBuffer(challenge),
      attestationType: 'none',
      excludeCredentials: existing.map((c) => ({ id: c.id, transports: c.transports as AuthenticatorTransportFuture[] })),
      // Discoverable credentials make login passwordless; UV makes the key a second factor on its own.
      authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
      supportedAlgorithmIDs: [-7, -8, -257],
      timeout: 60_000,
    });
  }

  async verifyRegistration(raw: unknown, challenge: string): Promise<NewCredential> {
    const response = parseResponse(registrationResponseSchema, raw) as RegistrationResponseJSON;
    const s = this.settings();
    this.checkClientData(response.response.clientDataJSON, 'webauthn.create', challenge);
    const result = await verifyOrRefuse(() =>
      verifyRegistrationResponse({ response, expectedChallenge: challenge, expectedOrigin: s.origins, expectedRPID: s.rpId, requireUserVerification: true }),
    );
    if (!result.verified) throw notVerified();
    const c = result.registrationInfo.credential;
    return { id: c.id, publicKey: isoBase64URL.fromBuffer(c.publicKey), counter: c.counter, transports: response.response.transports ?? [] };
  }

  async authenticationOptions(opts: { challenge: string; allow?: Credential[]; userVerification: 'required' | 'preferred' }): Promise<PublicKeyCredentialRequestOptionsJSON> {
    return generateAuthenticationOptions({
      rpID: this.settings().rpId,
      challenge: isoBase64URL.toBuffer(opts.challenge),
      allowCredentials: opts.allow?.map((c) => ({ id: c.id, transports: c.transports as AuthenticatorTransportFuture[] })),
      userVerification: opts.userVerification,
      timeout: 60_000,
    });
  }

  /** The credential id a response claims, so the caller can look the key up before verifying. */
  parseAuthentication(raw: unknown): AuthenticationResponseJSON {
    return parseResponse(authenticationResponseSchema, raw) as AuthenticationResponseJSON;
  }

  /**
   * Verifies an assertion. The counter check runs after the signature check, so only a
   * response really signed by the key can raise the cloned-key alarm.
   */
  async verifyAuthentication(opts: {
    response: AuthenticationResponseJSON;
    challenge: string;
    credential: Credential;
    requireUserVerification: boolean;
  }): Promise<{ newCounter: number; userVerified: boolean }> {
    const s = this.settings();
    const { response, credential } = opts;
    this.checkClientData(response.response.clientDataJSON, 'webauthn.get', opts.challenge);
    const flags = parseAuthenticatorData(isoBase64URL.toBuffer(response.response.authenticatorData)).flags;
    if (opts.requireUserVerification && !flags.uv) {
      throw new TapgateError('uv_required', 'Your security key did not verify you (PIN or fingerprint). Signing in needs a key with a PIN or biometric set up; try again and enter your PIN.', {
        status: 401,
        auditReason: 'user verification missing',
      });
    }
    const result = await verifyOrRefuse(() =>
      verifyAuthenticationResponse({
        response,
        expectedChallenge: opts.challenge,
        expectedOrigin: s.origins,
        expectedRPID: s.rpId,
        // Counter 0 here: the library would compare before checking the signature; we compare after.
        credential: { id: credential.id, publicKey: isoBase64URL.toBuffer(credential.publicKey), counter: 0 },
        requireUserVerification: opts.requireUserVerification,
      }),
    );
    if (!result.verified) throw notVerified();
    const newCounter = result.authenticationInfo.newCounter;
    if (counterRegressed(credential.counter, newCounter)) throw clonedKeyError(credential.counter, newCounter);
    return { newCounter, userVerified: result.authenticationInfo.userVerified };
  }

  private checkClientData(clientDataJSON: string, type: string, challenge: string): void {
    let data: { type: string; origin: string; challenge: string };
    try {
      data = decodeClientDataJSON(clientDataJSON);
    } catch {
      throw new TapgateError('webauthn_failed', 'The browser sent a security-key response the gate cannot read. Reload the page and try again.', { auditReason: 'unreadable clientDataJSON' });
    }
    const s = this.settings();
    if (!s.origins.includes(data.origin)) {
      throw new TapgateError('wrong_origin', `This page was not opened from the gate's address (${s.origins[0]}). Open the link that tapgate printed, not a copy of the page.`, {
        status: 403,
        auditReason: `wrong origin ${data.origin}`,
      });
    }
    if (data.type !== type) throw new TapgateError('webauthn_failed', 'The security-key response is of the wrong kind. Reload the page and try again.', { auditReason: `unexpected clientData type ${data.type}` });
    if (data.challenge !== challenge) {
      throw new TapgateError('challenge_mismatch', 'The security-key response does not answer this prompt. Reload the page and try again.', { auditReason: 'challenge mismatch' });
    }
  }
}

export function clonedKeyError(stored: number, received: number): TapgateError {
  return new TapgateError(
    'cloned_key',
    'This security key was refused: its signature counter went backwards, which is what a cloned key looks like. Contact your administrator; the key may need to be removed.',
    { status: 403, auditReason: `possible cloned key: sign counter ${received} after ${stored}` },
  );
}

function parseResponse<T extends z.ZodType>(schema: T, raw: unknown): z.infer<T> {
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new TapgateError('bad_request', `security-key response: ${issue.path.join('.') || '(top level)'}: ${issue.message}`, { auditReason: 'malformed WebAuthn response' });
  }
  return r.data;
}

async function verifyOrRefuse<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof TapgateError) throw e;
    throw new TapgateError('webauthn_failed', 'The security-key response could not be verified. Reload the page and try again.', { status: 401, auditReason: `webauthn: ${(e as Error).message}` });
  }
}

function notVerified(): TapgateError {
  return new TapgateError('webauthn_failed', 'The security-key signature did not verify. Reload the page and try again.', { status: 401, auditReason: 'signature did not verify' });
}
