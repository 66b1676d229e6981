/** Resource catalogue and discovery documents of the fake API server. */

export interface SubresourceDef {
  name: string;
  kind: string;
  group?: string;
  version?: string;
  verbs: string[];
}

export interface ResourceDef {
  group: string; // '' for core
  version: string;
  resource: string; // plural
  singular: string;
  kind: string;
  namespaced: boolean;
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
  subresources?: SubresourceDef[];
  /** virtual: create-only review resources, not stored */
  virtual?: boolean;
}

const CRUD = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export const RESOURCES: ResourceDef[] = [
  {
    group: '', version: 'v1', resource: 'namespaces', singular: 'namespace', kind: 'Namespace', namespaced: false,
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'], shortNames: ['ns'],
    subresources: [
      { name: 'finalize', kind: 'Namespace', verbs: ['update'] },
      { name: 'status', kind: 'Namespace', verbs: ['get', 'patch', 'update'] },
    ],
  },
  {
    group: '', version: 'v1', resource: 'nodes', singular: 'node', kind: 'Node', namespaced: false,
    verbs: CRUD, shortNames: ['no'],
    subresources: [{ name: 'status', kind: 'Node', verbs: ['get', 'patch', 'update'] }],
  },
  {
    group: '', version: 'v1', resource: 'pods', singular: 'pod', kind: 'Pod', namespaced: true,
    verbs: CRUD, shortNames: ['po'], categories: ['all'],
    subresources: [
      { name: 'attach', kind: 'PodAttachOptions', verbs: ['create', 'get'] },
      { name: 'exec', kind: 'PodExecOptions', verbs: ['create', 'get'] },
      { name: 'log', kind: 'Pod', verbs: ['get'] },
      { name: 'portforward', kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
      { name: 'status', kind: 'Pod', verbs: ['get', 'patch', 'update'] },
    ],
  },
  {
    group: '', version: 'v1', resource: 'configmaps', singular: 'configmap', kind: 'ConfigMap', namespaced: true,
    verbs: CRUD, shortNames: ['cm'],
  },
  {
    group: '', version: 'v1', resource: 'secrets', singular: 'secret', kind: 'Secret', namespaced: true, verbs: CRUD,
  },
  {
    group: '', version: 'v1', resource: 'services', singular: 'service', kind: 'Service', namespaced: true,
    verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'], shortNames: ['svc'], categories: ['all'],
    subresources: [{ name: 'status', kind: 'Service', verbs: ['get', 'patch', 'update'] }],
  },
  {
    group: '', version: 'v1', resource: 'serviceaccounts', singular: 'serviceaccount', kind: 'ServiceAccount', namespaced: true,
    verbs: CRUD, shortNames: ['sa'],
  },
  {
    group: '', version: 'v1', resource: 'events', singular: 'event', kind: 'Event', namespaced: true, verbs: CRUD, shortNames: ['ev'],
  },
  {
    group: 'apps', version: 'v1', resource: 'deployments', singular: 'deployment', kind: 'Deployment', namespaced: true,
    verbs: CRUD, shortNames: ['deploy'], categories: ['all'],
    subresources: [
      { name: 'scale', kind: 'Scale', group: 'autoscaling', version: 'v1', verbs: ['get', 'patch', 'update'] },
      { name: 'status', kind: 'Deployment', verbs: ['get', 'patch', 'update'] },
    ],
  },
  {
    group: 'authentication.k8s.io', version: 'v1', resource: 'selfsubjectreviews', singular: 'selfsubjectreview',
    kind: 'SelfSubjectReview', namespaced: false, verbs: ['create'], virtual: true,
  },
  {
    group: 'authentication.k8s.io', version: 'v1', resource: 'tokenreviews', singular: 'tokenreview',
    kind: 'TokenReview', namespaced: false, verbs: ['create'], virtual: true,
  },
  {
    group: 'authorization.k8s.io', version: 'v1', resource: 'selfsubjectaccessreviews', singular: 'selfsubjectaccessreview',
    kind: 'SelfSubjectAccessReview', namespaced: false, verbs: ['create'], virtual: true,
  },
  {
    group: 'authorization.k8s.io', version: 'v1', resource: 'selfsubjectrulesreviews', singular: 'selfsubjectrulesreview',
    kind: 'SelfSubjectRulesReview', namespaced: false, verbs: ['create'], virtual: true,
  },
];

export const GROUPS: { name: string; version: string }[] = [
  { name: 'apps', version: 'v1' },
  { name: 'authentication.k8s.io', version: 'v1' },
  { name: 'authorization.k8s.io', version: 'v1' },
];

const byKey = new Map<string, ResourceDef>();
for (const r of RESOURCES) byKey.set(`${r.group}/${r.version}/${r.resource}`, r);

export function findResource(group: string, version: string, resource: string): ResourceDef | undefined {
  return byKey.get(`${group}/${version}/${resource}`);
}

export function apiVersionOf(r: { group: string; version: string }): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

function resourcesOf(group: string, version: string): ResourceDef[] {
  return RESOURCES.filter((r) => r.group === group && r.version === version);
}

// ---------------------------------------------------------------- legacy discovery

export function apiVersionsDoc(serverAddress: string): unknown {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function groupEntry(g: { name: string; version: string }) {
  const gv = { groupVersion: `${g.name}/${g.version}`, version: g.version };
  return { name: g.name, versions: [gv], preferredVersion: gv };
}

export function apiGroupListDoc(): unknown {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: GROUPS.map(groupEntry) };
}

export function apiGroupDoc(name: string): unknown | undefined {
  const g = GROUPS.find((x) => x.name === name);
  if (!g) return undefined;
  return { kind: 'APIGroup', apiVersion: 'v1', ...groupEntry(g) };
}

export function apiResourceListDoc(group: string, version: string): unknown | undefined {
  const rs = resourcesOf(group, version);
  if (!rs.length) return undefined;
  const resources: unknown[] = [];
  for (const r of rs) {
    resources.push({
      name: r.resource,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: r.verbs,
      ...(r.shortNames ? { shortNames: r.shortNames } : {}),
      ...(r.categories ? { categories: r.categories } : {}),
    });
    for (const s of r.subresources ?? []) {
      resources.push({
        name: `${r.resource}/${s.name}`,
        singularName: r.singular,
        namespaced: r.namespaced,
        ...(s.group !== undefined ? { group: s.group, version: s.version } : {}),
        kind: s.kind,
        verbs: s.verbs,
      });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf({ group, version }), resources };
}

// ---------------------------------------------------------------- aggregated discovery

export const AGGREGATED_CT = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';
export const AGGREGATED_CT_V2BETA1 = 'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList';

function aggregatedVersion(group: string, version: string) {
  return {
    version,
    resources: resourcesOf(group, version).map((r) => ({
      resource: r.resource,
      responseKind: { group: '', version: '', kind: r.kind },
      scope: r.namespaced ? 'Namespaced' : 'Cluster',
      singularResource: r.singular,
      verbs: r.verbs,
      ...(r.shortNames ? { shortNames: r.shortNames } : {}),
      ...(r.categories ? { categories: r.categories } : {}),
      ...(r.subresources
        ? {
            subresources: r.subresources.map((s) => ({
              subresource: s.name,
              responseKind: { group: s.group ?? '', version: s.version ?? '', kind: s.kind },
              verbs: s.verbs,
            })),
          }
        : {}),
    })),
    freshness: 'Current',
  };
}

export function aggregatedDoc(which: 'api' | 'apis', apiVersion: string): unknown {
  const items =
    which === 'api'
      ? [{ metadata: { creationTimestamp: null }, versions: [aggregatedVersion('', 'v1')] }]
      : GROUPS.map((g) => ({ metadata: { name: g.name, creationTimestamp: null }, versions: [aggregatedVersion(g.name, g.version)] }));
  return { kind: 'APIGroupDiscoveryList', apiVersion, metadata: {}, items };
}

// ---------------------------------------------------------------- OpenAPI v3 (just enough for kubectl)

/**
 * kubectl 1.35 checks OpenAPI v3 to see whether the server supports the `fieldValidation`
 * query parameter (then it relies on server-side validation and skips client-side schema
 * validation). We publish, per group-version, the PATCH operations with their GVK extension
 * and the `fieldValidation` parameter, and no schemas. kubectl then computes strategic merge
 * patches from its compiled-in types.
 */
export function openapiV3Root(hash: string): unknown {
  const paths: Record<string, unknown> = {
    'api/v1': { serverRelativeURL: `/openapi/v3/api/v1?hash=${hash}` },
    api: { serverRelativeURL: `/openapi/v3/api?hash=${hash}` },
    apis: { serverRelativeURL: `/openapi/v3/apis?hash=${hash}` },
  };
  for (const g of GROUPS) {
    paths[`apis/${g.name}/${g.version}`] = { serverRelativeURL: `/openapi/v3/apis/${g.name}/${g.version}?hash=${hash}` };
    paths[`apis/${g.name}`] = { serverRelativeURL: `/openapi/v3/apis/${g.name}?hash=${hash}` };
  }
  return { paths };
}

const QUERY_PARAMS = ['dryRun', 'fieldManager', 'fieldValidation', 'force', 'pretty'];

export function openapiV3GroupVersion(gvPath: string): unknown | undefined {
  let group = '';
  let version = '';
  if (gvPath === 'api/v1') version = 'v1';
  else {
    const m = /^apis\/([^/]+)\/([^/]+)$/.exec(gvPath);
    if (!m) {
      if (gvPath === 'api' || gvPath === 'apis' || GROUPS.some((g) => `apis/${g.name}` === gvPath)) {
        return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.35.0' }, paths: {}, components: { schemas: {} } };
      }
      return undefined;
    }
    group = m[1]!;
    version = m[2]!;
  }
  const rs = resourcesOf(group, version);
  if (!rs.length) return undefined;
  const prefix = group ? `/apis/${group}/${version}` : `/api/v1`;
  const paths: Record<string, unknown> = {};
  for (const r of rs) {
    const gvk = { group, version, kind: r.kind };
    const itemPath = r.namespaced ? `${prefix}/namespaces/{namespace}/${r.resource}/{name}` : `${prefix}/${r.resource}/{name}`;
    const collPath = r.namespaced ? `${prefix}/namespaces/{namespace}/${r.resource}` : `${prefix}/${r.resource}`;
    const params = [
      ...QUERY_PARAMS.map((name) => ({ name, in: 'query', schema: { type: name === 'force' ? 'boolean' : 'string', uniqueItems: true } })),
    ];
    const op = (verb: string, action: string) => ({
      tags: [group ? `${group.split('.')[0]}_${version}` : 'core_v1'],
      operationId: `${verb}${r.kind}`,
      ...(action === 'patch' || action === 'put' || action === 'post' ? { parameters: params } : {}),
      responses: { '200': { description: 'OK' } },
      'x-kubernetes-action': action,
      'x-kubernetes-group-version-kind': gvk,
    });
    if (r.verbs.includes('patch')) {
      paths[itemPath] = {
        get: op('read', 'get'),
        put: op('replace', 'put'),
        patch: {
          ...op('patch', 'patch'),
          requestBody: {
            content: {
              'application/json-patch+json': { schema: { type: 'object' } },
              'application/merge-patch+json': { schema: { type: 'object' } },
              'application/apply-patch+yaml': { schema: { type: 'object' } },
            },
            required: true,
          },
        },
        delete: op('delete', 'delete'),
        parameters: [
          { name: 'name', in: 'path', required: true, schema: { type: 'string', uniqueItems: true } },
          ...(r.namespaced ? [{ name: 'namespace', in: 'path', required: true, schema: { type: 'string', uniqueItems: true } }] : []),
        ],
      };
    }
    if (r.verbs.includes('create')) {
      paths[collPath] = {
        post: op('create', 'post'),
        parameters: [
          ...(r.namespaced ? [{ name: 'namespace', in: 'path', required: true, schema: { type: 'string', uniqueItems: true } }] : []),
        ],
      };
    }
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.35.0' }, paths, components: { schemas: {} } };
}
