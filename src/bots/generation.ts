/**
 * Generation counters, pure. Every bot instance has a committed generation and at most one
 * pending one (committed + 1) issued by a renewal that its bot has not used yet. The counter is
 * carried in the certificate, so the gate can tell a lost response (retry with the current
 * certificate while the new one is pending) from a copied certificate (an older generation after
 * the newer one was used). Table-driven tests in generation.test.ts.
 */

export interface GenerationState {
  /** the generation the bot has proven it holds */
  generation: number;
  /** issued by a renewal, not used yet */
  pendingGeneration: number | null;
  /** sha256 of the public key the pending certificate was issued for */
  pendingKeyFp: string | null;
}

export type RenewalDecision =
  /** no renewal in flight: issue generation + 1 as pending */
  | { kind: 'renew'; issue: number }
  /** the bot uses the pending certificate to renew: commit it, issue the next one as pending */
  | { kind: 'commit-and-renew'; commit: number; issue: number }
  /** a retry with the current certificate for the same key: the response was lost, send the pending certificate again */
  | { kind: 'reissue-pending'; pending: number }
  /** a retry with the current certificate but a different key: refuse without locking (cannot tell who is who) */
  | { kind: 'conflict'; pending: number }
  /**
   * an older certificate asking again for the very key its successor was issued for: a renewal that
   * was answered and used, repeated (a replayed signed request, or a stale retry); refuse without
   * locking, it can only yield a certificate for a key whose holder has already renewed
   */
  | { kind: 'repeat'; presented: number; committed: number }
  /** an older generation after a newer one was used, or one never issued: the certificate was copied */
  | { kind: 'theft'; presented: number; committed: number };

/** sha256 of the key a generation was issued for, where the gate still remembers it (its capped history). */
export type IssuedKeys = (generation: number) => string | undefined;

/** What a renewal request presenting `presented` (for a new key `keyFp`) should get. */
export function decideRenewal(state: GenerationState, presented: number, keyFp: string, issuedKey: IssuedKeys = () => undefined): RenewalDecision {
  const { generation, pendingGeneration } = state;
  if (pendingGeneration === null) {
    if (presented === generation) return { kind: 'renew', issue: generation + 1 };
    return older(generation, presented, keyFp, issuedKey);
  }
  if (presented === pendingGeneration) return { kind: 'commit-and-renew', commit: pendingGeneration, issue: pendingGeneration + 1 };
  if (presented === generation) {
    return state.pendingKeyFp === keyFp ? { kind: 'reissue-pending', pending: pendingGeneration } : { kind: 'conflict', pending: pendingGeneration };
  }
  return older(generation, presented, keyFp, issuedKey);
}

/** A generation other than the committed and pending ones: theft, unless it only repeats a renewal already answered. */
function older(committed: number, presented: number, keyFp: string, issuedKey: IssuedKeys): RenewalDecision {
  // A thief asking for the real bot's next key gains nothing, so not locking there loses no detection.
  if (presented < committed && issuedKey(presented + 1) === keyFp) return { kind: 'repeat', presented, committed };
  return { kind: 'theft', presented, committed };
}

export type UseDecision =
  /** the committed generation (or the one before it, which consumers may still hold) */
  | { kind: 'ok' }
  /** first use of the pending generation: commit it */
  | { kind: 'commit'; commit: number }
  | { kind: 'theft'; presented: number; committed: number };

/**
 * What a use of the certificate outside renewal (kube request, heartbeat) means. The generation
 * just replaced is still accepted: programs reading the certificate files reload them lazily
 * (client-go every few minutes), and refusing them would lock healthy bots. Anything older is a
 * copy; renewal interval < TTL guarantees the real bot moved past it.
 */
export function decideUse(state: GenerationState, presented: number): UseDecision {
  const { generation, pendingGeneration } = state;
  if (pendingGeneration !== null && presented === pendingGeneration) return { kind: 'commit', commit: pendingGeneration };
  if (presented === generation || presented === generation - 1) return { kind: 'ok' };
  return { kind: 'theft', presented, committed: generation };
}
