import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The gate's Prometheus metrics, in a registry of its own so several gates can share a process (tests). */
export interface GateMetrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpSeconds: Histogram<'method' | 'route'>;
  certsIssued: Counter<'usage'>;
  refusals: Counter<'event' | 'code'>;
}

export function createMetrics(): GateMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tapgate_' });
  return {
    registry,
    httpRequests: new Counter({ name: 'tapgate_http_requests_total', help: 'API requests by route and status', labelNames: ['method', 'route', 'status'], registers: [registry] }),
    httpSeconds: new Histogram({
      name: 'tapgate_http_request_seconds',
      help: 'API request latency',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: [registry],
    }),
    certsIssued: new Counter({ name: 'tapgate_certificates_issued_total', help: 'certificates issued by usage', labelNames: ['usage'], registers: [registry] }),
    refusals: new Counter({ name: 'tapgate_refusals_total', help: 'refusals by audit event and error code', labelNames: ['event', 'code'], registers: [registry] }),
  };
}

/**
 * Counts and times one answered request. The labelled series are looked up once per method,
 * route and status (a bounded set: routes are the registered patterns or "unmatched"), not
 * hashed from a label object on every request.
 */
export function requestMetrics(m: Pick<GateMetrics, 'httpRequests' | 'httpSeconds'>): (method: string, route: string, status: number, seconds: number) => void {
  const series = new Map<string, { count: { inc(): void }; time: { observe(v: number): void } }>();
  return (method, route, status, seconds) => {
    const key = `${method} ${status} ${route}`;
    let s = series.get(key);
    if (!s) {
      s = { count: m.httpRequests.labels({ method, route, status: String(status) }), time: m.httpSeconds.labels({ method, route }) };
      series.set(key, s);
    }
    s.count.inc();
    s.time.observe(seconds);
  };
}
