import { TapgateError } from '../../core/errors';
import { kubeStatus, type KubeStatus } from '../../core/kube-status';
import type { StreamEndReason } from './auth-context';

export type { KubeStatus };

/** A refusal: what the user reads, the HTTP status, the Status `reason`, and what the audit log records. */
export class KubeRefusal extends TapgateError {
  constructor(
    readonly kubeReason: string,
    message: string,
    opts: { status: number; auditReason: string; code?: string },
  ) {
    super(opts.code ?? kubeReason, message, opts);
  }
}

export const MFA_REQUIRED = 'MFARequired';

const REASON_BY_STATUS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  500: 'InternalError',
  502: 'ServiceUnavailable',
  503: 'ServiceUnavailable',
};

export function kubeReasonOf(e: TapgateError): string {
  if (e instanceof KubeRefusal) return e.kubeReason;
  if (e.code === 'cert_expired') return MFA_REQUIRED;
  return REASON_BY_STATUS[e.status] ?? 'InternalError';
}

export function statusOf(e: TapgateError): KubeStatus {
  return kubeStatus(e.status, kubeReasonOf(e), e.message);
}

/** The Status body, serialised once per refusal. */
export function statusBody(e: TapgateError): Buffer {
  return Buffer.from(JSON.stringify(statusOf(e)));
}

/** A complete HTTP/1.1 response for a socket taken over by an upgrade request. */
export function rawStatusResponse(e: TapgateError): Buffer {
  const body = statusBody(e);
  const head =
    `HTTP/1.1 ${e.status} ${kubeReasonOf(e)}\r\n` +
    'Content-Type: application/json\r\n' +
    `Content-Length: ${body.length}\r\n` +
    'Connection: close\r\n\r\n';
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

/** Why Tapgate ended a live stream, as the Status a watch ERROR event or an exec error channel carries. */
export function cutStatus(reason: StreamEndReason, detail: string, what: 'watch' | 'session'): KubeStatus {
  const base = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure' } as const;
  if (reason === 'locked' || reason === 'disconnected') {
    return { ...base, reason: 'Forbidden', code: 403, message: `Tapgate ended this ${what}: ${detail}` };
  }
  if (reason === 'listener_closed') {
    return { ...base, reason: 'ServiceUnavailable', code: 503, message: `Tapgate ended this ${what}: ${detail}; run the command again` };
  }
  return { ...base, reason: MFA_REQUIRED, code: 401, message: `Tapgate ended this ${what}: ${detail}; tap your security key to continue` };
}
