/**
 * One gate replica in its own process, for test/e2e/replicas.test.ts and bench/replicas.ts (driven by replica.ts) (so
 * SIGKILL is real). Config comes as JSON in TAPGATE_REPLICA_CONFIG; the parent talks over the IPC
 * channel: it gets {type: 'ready', apiUrl, kubeUrl, caPem} and may send {id, cmd: 'lock' | 'cpu' | 'gc' | 'profile-start' | 'profile-stop', ...}.
 */
import pino from 'pino';
import { parseConfig } from '../../src/config/config';
import { describeError } from '../../src/core/errors';
import type { LockTargetKind } from '../../src/locks/match';
import { startGate } from '../../src/server/gate';
import { startCpuProfile } from './cpu-profile';
import { fullGc } from './gc';

export type ReplicaCommand =
  | { id: number; cmd: 'lock'; targetKind: LockTargetKind; target: string; message?: string; ttlMs?: number }
  | { id: number; cmd: 'cpu' }
  | { id: number; cmd: 'gc' }
  | { id: number; cmd: 'profile-start' }
  | { id: number; cmd: 'profile-stop'; path: string };
export type ReplicaMessage = { type: 'ready'; apiUrl: string; kubeUrl: string; caPem: string; pid: number } | { type: 'reply'; id: number; result?: unknown; error?: string };

const send = (m: ReplicaMessage) => process.send?.(m);

const config = parseConfig(JSON.parse(process.env.TAPGATE_REPLICA_CONFIG ?? '{}'), 'replica config');
const gate = await startGate(config, { apiPort: 0, logger: pino({ level: process.env.TAPGATE_REPLICA_LOG ?? 'silent' }, pino.destination(2)) });

let stopProfile: ((path: string) => Promise<void>) | undefined;

process.on('message', (m: ReplicaCommand) => {
  void (async () => {
    try {
      if (m.cmd === 'lock') {
        const lock = await gate.ctx.locks.create({ targetKind: m.targetKind, target: m.target, message: m.message, ttlMs: m.ttlMs, createdBy: `replica:${process.pid}` });
        send({ type: 'reply', id: m.id, result: lock });
      } else if (m.cmd === 'gc') {
        fullGc();
        send({ type: 'reply', id: m.id });
      } else if (m.cmd === 'profile-start') {
        stopProfile = await startCpuProfile();
        send({ type: 'reply', id: m.id });
      } else if (m.cmd === 'profile-stop') {
        await stopProfile?.(m.path);
        send({ type: 'reply', id: m.id });
      } else {
        send({ type: 'reply', id: m.id, result: process.cpuUsage() });
      }
    } catch (e) {
      send({ type: 'reply', id: m.id, error: describeError(e) });
    }
  })();
});

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await gate.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('disconnect', () => void stop());

send({ type: 'ready', apiUrl: gate.apiUrl, kubeUrl: gate.kubeUrl ?? '', caPem: gate.ctx.tls.caPem, pid: process.pid });
