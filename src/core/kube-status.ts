/**
 * Kubernetes `Status` objects: how the gate and the local proxy refuse, so kubectl, client-go and
 * k9s print the message instead of a TLS or parse error.
 */
export interface KubeStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason: string;
  code: number;
}

export function kubeStatus(code: number, reason: string, message: string): KubeStatus {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}
