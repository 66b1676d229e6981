import { hostname } from 'node:os';
import { generateKeyPair } from '../pki/ca';
import { TapgateError } from '../core/errors';
import type { ExecCredential } from './agent-types';
import { ControlClient, controlSocketPath } from './control-socket';
import { execCredential } from './exec-credential';
import { clientFromProfile, requireLogin, tapgateHome } from './profile';

/** Asks for no more than this when no --ttl is given: the gate caps it at the role's interval. */
const ASK_FOR_MAX_MS = 24 * 3_600_000;

export interface ExecPluginOptions {
  cluster: string;
  ttlMs?: number;
  home?: string;
  socketPath?: string;
  /** kubectl's KUBERNETES_EXEC_INFO said a person is at the terminal */
  interactive?: boolean;
  /** shows the tap URL when no agent runs (stderr; kubectl passes it through) */
  onTapUrl(url: string): void;
  signal?: AbortSignal;
}

/**
 * `tapgate kube credentials`: the running agent's in-memory MFA certificate when there is an
 * agent (no tap while the interval lasts), else one tap in the browser for this call. Nothing
 * is written to disk; kubectl keeps the answer in memory until its expirationTimestamp.
 */
export async function execPluginCredential(o: ExecPluginOptions): Promise<{ credential: ExecCredential; from: 'agent' | 'tap' }> {
  const agent = await ControlClient.tryConnect(o.socketPath ?? controlSocketPath());
  if (agent) {
    try {
      const credential = await agent.credentials({ cluster: o.cluster, ...(o.ttlMs ? { ttlMs: o.ttlMs } : {}) });
      credential.spec = { interactive: o.interactive ?? false };
      return { credential, from: 'agent' };
    } finally {
      agent.close();
    }
  }
  const login = requireLogin(o.home ?? tapgateHome());
  const client = clientFromProfile(login);
  try {
    const keys = await generateKeyPair();
    const req = await client.createMfaRequest({
      clusters: [o.cluster],
      ttlMs: o.ttlMs ?? ASK_FOR_MAX_MS,
      publicKeyPem: keys.publicKeyPem,
      requester: { host: hostname(), process: 'tapgate kube credentials', command: `kubectl (exec plugin for ${o.cluster})` },
    });
    o.onTapUrl(req.tapUrl);
    const onAbort = () => void client.cancelMfaRequest(req.id).catch(() => {});
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const grant = await client.waitMfaRequest(req.id, { signal: o.signal, timeoutMs: Math.max(1000, req.expiresAt - Date.now()) }).catch((e: unknown) => {
      if (o.signal?.aborted) throw new TapgateError('cancelled', 'cancelled; no credential issued');
      throw e;
    });
    return {
      credential: execCredential({ certPem: grant.certPem, keyPem: keys.privateKeyPem, notAfter: grant.notAfter, now: Date.now(), ttlMs: o.ttlMs, interactive: o.interactive }),
      from: 'tap',
    };
  } finally {
    await client.close();
  }
}
