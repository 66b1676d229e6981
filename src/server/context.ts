import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit';
import type { RoleRepo } from '../auth/roles';
import type { GateConfig } from '../config/config';
import type { Clock } from '../core/clock';
import type { Locks } from '../locks/locks';
import type { CertificateAuthority } from '../pki/ca';
import type { Db } from '../store/db';
import type { GateMetrics } from './metrics';

/** Everything a gate listener needs, built once at start (src/server/gate.ts). */
export interface GateContext {
  config: GateConfig;
  db: Db;
  clock: Clock;
  log: Logger;
  audit: AuditLog;
  locks: Locks;
  roles: RoleRepo;
  cas: { user: CertificateAuthority; bot: CertificateAuthority; host: CertificateAuthority };
  /** TLS identity both listeners serve (self-signed by the host CA unless config.tls is set) */
  tls: { certPem: string; keyPem: string; caPem: string };
  /** Prometheus metrics served at /metrics; listeners may register their own in `metrics.registry` */
  metrics: GateMetrics;
}
