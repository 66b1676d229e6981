import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideRenewal, decideUse, type GenerationState, type RenewalDecision, type UseDecision } from './generation';

const st = (generation: number, pendingGeneration: number | null = null, pendingKeyFp: string | null = pendingGeneration === null ? null : 'k1'): GenerationState => ({
  generation,
  pendingGeneration,
  pendingKeyFp,
});

describe('decideRenewal', () => {
  // generation 8 was issued for key k8, 9 for k9
  const issued = (g: number) => ({ 8: 'k8', 9: 'k9' })[g];
  const cases: [string, GenerationState, number, string, RenewalDecision][] = [
    ['first renewal after join', st(1), 1, 'k1', { kind: 'renew', issue: 2 }],
    ['steady state', st(7), 7, 'k9', { kind: 'renew', issue: 8 }],
    ['renewing with the pending certificate commits it', st(7, 8), 8, 'k2', { kind: 'commit-and-renew', commit: 8, issue: 9 }],
    ['lost response: retry with the current certificate, same key', st(7, 8, 'k1'), 7, 'k1', { kind: 'reissue-pending', pending: 8 }],
    ['retry with the current certificate, another key', st(7, 8, 'k1'), 7, 'k2', { kind: 'conflict', pending: 8 }],
    ['previous generation after commit is theft', st(8), 7, 'k1', { kind: 'theft', presented: 7, committed: 8 }],
    ['much older generation is theft', st(8), 2, 'k1', { kind: 'theft', presented: 2, committed: 8 }],
    ['older than committed while pending is theft', st(8, 9), 7, 'k1', { kind: 'theft', presented: 7, committed: 8 }],
    ['a generation never issued is theft', st(3), 4, 'k1', { kind: 'theft', presented: 4, committed: 3 }],
    ['beyond the pending one is theft', st(3, 4), 5, 'k1', { kind: 'theft', presented: 5, committed: 3 }],
  ];
  for (const [name, state, presented, key, want] of cases) {
    it(name, () => assert.deepEqual(decideRenewal(state, presented, key), want));
  }

  const repeats: [string, GenerationState, number, string, RenewalDecision][] = [
    ['the renewal that issued the committed generation, repeated', st(8), 7, 'k8', { kind: 'repeat', presented: 7, committed: 8 }],
    ['repeated while the next renewal is pending', st(8, 9, 'k9'), 7, 'k8', { kind: 'repeat', presented: 7, committed: 8 }],
    ['an older renewal repeated', st(9), 7, 'k8', { kind: 'repeat', presented: 7, committed: 9 }],
    ['an older certificate for a new key is still theft', st(8), 7, 'k1', { kind: 'theft', presented: 7, committed: 8 }],
    ['for the key of another generation is still theft', st(9), 7, 'k9', { kind: 'theft', presented: 7, committed: 9 }],
    ['a history that forgot the key: theft', st(12), 10, 'k11', { kind: 'theft', presented: 10, committed: 12 }],
    ['a generation never issued, for a known key: theft', st(7), 8, 'k9', { kind: 'theft', presented: 8, committed: 7 }],
    ['the same key for the next generation is an ordinary renewal', st(8), 8, 'k9', { kind: 'renew', issue: 9 }],
  ];
  for (const [name, state, presented, key, want] of repeats) {
    it(name, () => assert.deepEqual(decideRenewal(state, presented, key, issued), want));
  }
});

describe('decideUse', () => {
  const cases: [string, GenerationState, number, UseDecision][] = [
    ['committed generation', st(5), 5, { kind: 'ok' }],
    ['committed while a renewal is pending', st(5, 6), 5, { kind: 'ok' }],
    ['first use of the pending generation commits it', st(5, 6), 6, { kind: 'commit', commit: 6 }],
    ['the generation just replaced (consumers reload lazily)', st(6), 5, { kind: 'ok' }],
    ['two generations back is theft', st(6), 4, { kind: 'theft', presented: 4, committed: 6 }],
    ['two back while pending is theft', st(6, 7), 4, { kind: 'theft', presented: 4, committed: 6 }],
    ['a generation never issued is theft', st(6), 7, { kind: 'theft', presented: 7, committed: 6 }],
    ['first generation after join', st(1), 1, { kind: 'ok' }],
  ];
  for (const [name, state, presented, want] of cases) {
    it(name, () => assert.deepEqual(decideUse(state, presented), want));
  }
});
