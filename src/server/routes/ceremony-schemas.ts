import { z } from 'zod';
import { parseDuration } from '../../core/duration';

/** Request bodies shared by the API routes. WebAuthn responses are checked in auth/webauthn.ts. */

export const ceremonyBody = z
  .object({
    challengeId: z.string().uuid('expected the challengeId the options call returned'),
    response: z.unknown(),
    keyName: z.string().max(64).optional(),
  })
  .strict();

export const publicKeyPem = z.string().max(8192).regex(/-----BEGIN PUBLIC KEY-----/, 'expected a PEM public key (SPKI)');

export const requester = z
  .object({
    host: z.string().max(255).optional(),
    process: z.string().max(255).optional(),
    command: z.string().max(1024).optional(),
  })
  .strict();

/** A lifetime as milliseconds or a duration string ("10m"). */
export const ttl = z.union([z.number().int().positive(), z.string().max(32)]).transform((v, ctx) => {
  try {
    const ms = parseDuration(v, 'ttl');
    if (ms <= 0) throw new Error('ttl must be positive');
    return ms;
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
    return z.NEVER;
  }
});

/** `?wait=30`: seconds a long poll may wait, at most 60. */
export const waitQuery = z.object({ wait: z.coerce.number().min(0).max(60).default(0) });
