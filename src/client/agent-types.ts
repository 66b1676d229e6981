/**
 * The agent's public surface: what the control socket, the tray app and the status window see.
 * Plain data only (it crosses IPC and the control socket as JSON).
 */

/**
 * - 'verified': a valid MFA certificate, a minute or more left
 * - 'lapsing': valid, under a minute left
 * - 'waiting-for-tap': a tap is being asked for (pendingTap says where and what waits)
 * - 'no-session': no valid MFA certificate; the next kubectl call asks for a tap. When the login
 *   session itself has ended (loginExpires <= now), `error` says to run `tapgate login`.
 * - 'error': the last tap request could not even be made (gate unreachable…); `error` says why
 */
export type AgentState = 'no-session' | 'verified' | 'lapsing' | 'waiting-for-tap' | 'error';

export type ConnectionKind = 'request' | 'watch' | 'logs' | 'exec' | 'attach' | 'port-forward';

export interface ClientProcess {
  pid: number;
  /** command line as the user typed it, e.g. "kubectl get pods -n payments" */
  command: string;
}

export interface ConnectionInfo {
  id: string;
  cluster: string;
  kind: ConnectionKind;
  /** readable summary, e.g. "get pods -n payments", "exec -it web-1 -- sh" */
  summary: string;
  startedAt: number;
  bytesIn: number;
  bytesOut: number;
  process?: ClientProcess;
  /** held = waiting for a tap before it is sent on */
  state: 'active' | 'held';
}

export interface PendingTap {
  id: string;
  tapUrl: string;
  clusters: string[];
  /** when held requests give up with a Status error, epoch ms */
  giveUpAt: number;
  held: ConnectionInfo[];
}

export interface AgentStatus {
  state: AgentState;
  server: string;
  user?: string;
  loginExpires?: number;
  mfaExpires?: number;
  /** MFA lifetime granted at the last tap (after the server's cap), ms */
  mfaTtlMs?: number;
  clusters: { name: string; context: string }[];
  kubeconfigPath?: string;
  proxyUrl?: string;
  pendingTap?: PendingTap;
  error?: string;
  now: number;
}

export type AgentEventKind = 'verified' | 'lapsed' | 'tap-needed' | 'tap-cancelled' | 'locked' | 'login-expired' | 'forgotten' | 'error';

export interface AgentEvent {
  kind: AgentEventKind;
  at: number;
  message: string;
}

/** Methods of the control socket (newline-delimited JSON: {id, method, params} -> {id, result} | {id, error:{code,message}}). */
export interface AgentControl {
  status(): Promise<AgentStatus>;
  connections(): Promise<ConnectionInfo[]>;
  events(): Promise<AgentEvent[]>;
  verifyNow(): Promise<AgentStatus>;
  forgetMfa(): Promise<AgentStatus>;
  disconnect(params: { id: string }): Promise<{ disconnected: boolean }>;
  cancelTap(): Promise<AgentStatus>;
  /** an ExecCredential (client.authentication.k8s.io/v1) for the exec plugin */
  credentials(params: { cluster: string; ttlMs?: number }): Promise<ExecCredential>;
}

export interface ExecCredential {
  apiVersion: 'client.authentication.k8s.io/v1';
  kind: 'ExecCredential';
  spec: { interactive?: boolean };
  status: { expirationTimestamp: string; clientCertificateData: string; clientKeyData: string };
}

/** Pushed to subscribers: {event: 'status'|'connections'|'event', data}. */
export type AgentPush =
  | { event: 'status'; data: AgentStatus }
  | { event: 'connections'; data: ConnectionInfo[] }
  | { event: 'event'; data: AgentEvent };
