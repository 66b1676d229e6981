import { Counter, Gauge, register } from 'prom-client';

/**
 * Kube listener metrics in prom-client's default registry (the API server exposes it). The
 * metric objects are process-wide: several listeners in one process (tests) share them.
 */
function counter(): Counter<'cluster' | 'code'> {
  const name = 'tapgate_kube_requests_total';
  return (
    (register.getSingleMetric(name) as Counter<'cluster' | 'code'> | undefined) ??
    new Counter({ name, help: 'Requests on the kube listener by cluster and HTTP status (refusals included)', labelNames: ['cluster', 'code'] })
  );
}

function gauge(): Gauge<'cluster' | 'kind'> {
  const name = 'tapgate_kube_active_streams';
  return (
    (register.getSingleMetric(name) as Gauge<'cluster' | 'kind'> | undefined) ??
    new Gauge({ name, help: 'Live kube streams (watch, logs, exec, attach, port-forward) by cluster and kind', labelNames: ['cluster', 'kind'] })
  );
}

export class KubeMetrics {
  private readonly requests = counter();
  private readonly streams = gauge();
  /** label children by "cluster code", so the hot path does no label hashing */
  private readonly children = new Map<string, Counter.Internal>();

  request(cluster: string, code: number): void {
    const key = `${cluster} ${code}`;
    let c = this.children.get(key);
    if (!c) {
      c = this.requests.labels(cluster, String(code));
      this.children.set(key, c);
    }
    c.inc();
  }

  streamOpened(cluster: string, kind: string): void {
    this.streams.labels(cluster, kind).inc();
  }

  streamEnded(cluster: string, kind: string): void {
    this.streams.labels(cluster, kind).dec();
  }
}
