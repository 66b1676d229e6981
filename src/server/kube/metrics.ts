import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * Kube listener metrics, registered in the gate's registry (served at /metrics by the API
 * listener). Reused when a listener restarts on the same registry.
 */
export class KubeMetrics {
  private readonly requests: Counter<'cluster' | 'code'>;
  private readonly streams: Gauge<'cluster' | 'kind'>;
  /** label children by "cluster code", so the hot path does no label hashing */
  private readonly children = new Map<string, Counter.Internal>();

  constructor(registry: Registry) {
    const reqName = 'tapgate_kube_requests_total';
    const streamName = 'tapgate_kube_active_streams';
    this.requests =
      (registry.getSingleMetric(reqName) as Counter<'cluster' | 'code'> | undefined) ??
      new Counter({ name: reqName, help: 'Requests on the kube listener by cluster and HTTP status (refusals included)', labelNames: ['cluster', 'code'], registers: [registry] });
    this.streams =
      (registry.getSingleMetric(streamName) as Gauge<'cluster' | 'kind'> | undefined) ??
      new Gauge({ name: streamName, help: 'Live kube streams (watch, logs, exec, attach, port-forward, other upgrades) by cluster and kind', labelNames: ['cluster', 'kind'], registers: [registry] });
  }

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
