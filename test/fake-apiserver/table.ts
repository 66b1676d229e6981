/** meta.k8s.io/v1 Table rendering, close to what kube-apiserver prints. */
import type { KObj } from './store';
import type { ResourceDef } from './resources';

interface Col {
  name: string;
  type: string;
  format?: string;
  description: string;
  priority: number;
  cell: (o: KObj) => unknown;
}

export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (d < 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (d < 365 * 2) return `${d}d`;
  return `${Math.floor(d / 365)}y`;
}

const age = (o: KObj) => (o.metadata?.creationTimestamp ? humanDuration(Date.now() - Date.parse(o.metadata.creationTimestamp)) : '<unknown>');

const NAME: Col = {
  name: 'Name', type: 'string', format: 'name', priority: 0,
  description: 'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names',
  cell: (o) => o.metadata.name,
};
const AGE: Col = {
  name: 'Age', type: 'string', priority: 0,
  description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
  cell: age,
};
const col = (name: string, cell: (o: KObj) => unknown, priority = 0, type = 'string'): Col => ({ name, type, priority, description: name, cell });

function podStatus(o: KObj): string {
  if (o.metadata.deletionTimestamp) return 'Terminating';
  const cs = o.status?.containerStatuses ?? [];
  for (const c of cs) {
    if (c.state?.waiting?.reason) return c.state.waiting.reason;
    if (c.state?.terminated?.reason) return c.state.terminated.reason;
  }
  return o.status?.reason ?? o.status?.phase ?? 'Pending';
}

const COLUMNS: Record<string, Col[]> = {
  namespaces: [NAME, col('Status', (o) => o.status?.phase ?? 'Active'), AGE],
  nodes: [
    NAME,
    col('Status', (o) => `${(o.status?.conditions ?? []).some((c: KObj) => c.type === 'Ready' && c.status === 'True') ? 'Ready' : 'NotReady'}${o.spec?.unschedulable ? ',SchedulingDisabled' : ''}`),
    col('Roles', () => '<none>'),
    AGE,
    col('Version', (o) => o.status?.nodeInfo?.kubeletVersion ?? ''),
  ],
  pods: [
    NAME,
    col('Ready', (o) => {
      const cs = o.status?.containerStatuses ?? [];
      return `${cs.filter((c: KObj) => c.ready).length}/${o.spec?.containers?.length ?? cs.length}`;
    }),
    col('Status', podStatus),
    col('Restarts', (o) => (o.status?.containerStatuses ?? []).reduce((n: number, c: KObj) => n + (c.restartCount ?? 0), 0), 0, 'string'),
    AGE,
    col('IP', (o) => o.status?.podIP ?? '<none>', 1),
    col('Node', (o) => o.spec?.nodeName ?? '<none>', 1),
    col('Nominated Node', () => '<none>', 1),
    col('Readiness Gates', () => '<none>', 1),
  ],
  configmaps: [NAME, col('Data', (o) => Object.keys(o.data ?? {}).length + Object.keys(o.binaryData ?? {}).length, 0, 'integer'), AGE],
  secrets: [
    NAME,
    col('Type', (o) => o.type ?? 'Opaque'),
    col('Data', (o) => Object.keys(o.data ?? {}).length, 0, 'integer'),
    AGE,
  ],
  services: [
    NAME,
    col('Type', (o) => o.spec?.type ?? 'ClusterIP'),
    col('Cluster-IP', (o) => o.spec?.clusterIP ?? '<none>'),
    col('External-IP', () => '<none>'),
    col('Port(s)', (o) => (o.spec?.ports ?? []).map((p: KObj) => `${p.port}/${p.protocol ?? 'TCP'}`).join(',') || '<none>'),
    AGE,
    col('Selector', (o) => Object.entries(o.spec?.selector ?? {}).map(([k, v]) => `${k}=${v}`).join(',') || '<none>', 1),
  ],
  serviceaccounts: [NAME, col('Secrets', (o) => (o.secrets ?? []).length, 0, 'integer'), AGE],
  deployments: [
    NAME,
    col('Ready', (o) => `${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 1}`),
    col('Up-to-date', (o) => o.status?.updatedReplicas ?? 0, 0, 'integer'),
    col('Available', (o) => o.status?.availableReplicas ?? 0, 0, 'integer'),
    AGE,
  ],
  events: [
    col('Last Seen', (o) => (o.lastTimestamp ? humanDuration(Date.now() - Date.parse(o.lastTimestamp)) : age(o))),
    col('Type', (o) => o.type ?? 'Normal'),
    col('Reason', (o) => o.reason ?? ''),
    col('Object', (o) => `${(o.involvedObject?.kind ?? '').toLowerCase()}/${o.involvedObject?.name ?? ''}`),
    col('Message', (o) => o.message ?? ''),
  ],
};

export type IncludeObject = 'None' | 'Object' | 'Metadata';

function rowObject(o: KObj, include: IncludeObject): unknown {
  if (include === 'None') return undefined;
  if (include === 'Object') return o;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata };
}

export function toTable(r: ResourceDef, objs: KObj[], listMeta: KObj, include: IncludeObject, withColumns = true): KObj {
  const cols = COLUMNS[r.resource] ?? [NAME, AGE];
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: listMeta,
    columnDefinitions: withColumns
      ? cols.map((c) => ({ name: c.name, type: c.type, format: c.format ?? '', description: c.description, priority: c.priority }))
      : [],
    rows: objs.map((o) => {
      const row: KObj = { cells: cols.map((c) => c.cell(o)) };
      const obj = rowObject(o, include);
      if (obj) row.object = obj;
      return row;
    }),
  };
}
