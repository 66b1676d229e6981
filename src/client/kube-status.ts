import { kubeStatus } from '../core/kube-status';

export { kubeStatus, type KubeStatus } from '../core/kube-status';

/** The Status kubectl prints when the local proxy refuses or gives up ("error: You must be logged in to the server (<message>)" for 401). */
/** How much of a refusal's body is read for its Status (a Status is a few hundred bytes). */
export const MAX_REFUSAL_BYTES = 64 * 1024;

export function kubeStatusBody(code: number, reason: string, message: string): Buffer {
  return Buffer.from(JSON.stringify(kubeStatus(code, reason, message)));
}

/** Reads the reason of a Status body, if it is one (the gate's MFARequired refusals are). */
export function statusReason(body: Buffer | string): string | undefined {
  try {
    const s = JSON.parse(body.toString()) as { kind?: unknown; reason?: unknown };
    return s && s.kind === 'Status' && typeof s.reason === 'string' ? s.reason : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The same message as a `Warning` header (RFC 7234 code 299): kubectl prints warnings on stderr
 * even for discovery requests, where client-go replaces a Status message with a generic one.
 */
export function warningHeader(message: string): string {
  const ascii = message.replace(/[^\x20-\x7e]/g, '?').replace(/["\\]/g, (c) => `\\${c}`);
  return `299 - "${ascii}"`;
}
