/**
 * A faithful fake Kubernetes API server for tests and benchmarks (the one allowed
 * stand-in for kube-apiserver). HTTPS (HTTP/2 + HTTP/1.1), client-cert or bearer auth,
 * impersonation, discovery (legacy + aggregated v2), OpenAPI v3 stubs for kubectl,
 * CRUD + watch + Table output, pod logs, exec/attach over WebSockets (v5.channel.k8s.io),
 * and a raw-upgrade echo endpoint.
 */
import http2 from 'node:http2';
import type { IncomingMessage, ServerResponse, IncomingHttpHeaders } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { randomBytes, randomUUID } from 'node:crypto';
import { promises as fsp, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import YAML from 'yaml';

import { makeTestPki } from '../helpers/tls';
import {
  RESOURCES,
  AGGREGATED_CT,
  AGGREGATED_CT_V2BETA1,
  aggregatedDoc,
  apiGroupDoc,
  apiGroupListDoc,
  apiResourceListDoc,
  apiVersionOf,
  apiVersionsDoc,
  findResource,
  openapiV3GroupVersion,
  openapiV3Root,
  type ResourceDef,
} from './resources';
import { Store, rkeyOf, parseFieldSelector, parseLabelSelector, SelectorError, type KObj, type StoreEvent, type Watcher } from './store';
import { clone, jsonPatch, mergePatch, strategicMergePatch } from './patch';
import { toTable, type IncludeObject } from './table';
import { decodeK8sProtobuf, dumpProto } from './proto';
import { PassThrough } from 'node:stream';
import { SpdyPortForwardSession } from './spdy';
import { CHANNEL_PROTOCOLS, PodFs, runChannelSession, type ChannelSessionInfo } from './exec';

export type { ChannelSessionInfo } from './exec';
export type { KObj } from './store';

// ---------------------------------------------------------------- public types

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

export interface Impersonation {
  user?: string;
  uid?: string;
  groups: string[];
  extra: Record<string, string[]>;
}

export interface RecordedRequest {
  seq: number;
  time: number;
  method: string;
  /** path without query */
  path: string;
  /** raw query string without '?' */
  rawQuery: string;
  /** parsed query; repeated keys become arrays */
  query: Record<string, string | string[]>;
  /** Node's lower-cased header object (repeated headers joined by ", " except set-cookie) */
  headers: IncomingHttpHeaders;
  /** [name, value, name, value, ...] exactly as received (case and repeats preserved) */
  rawHeaders: string[];
  httpVersion: string;
  upgrade: boolean;
  /** authenticated identity (before impersonation), null when unauthenticated */
  authUser: UserInfo | null;
  authMethod: 'cert' | 'token' | null;
  /** identity the request acts as (after impersonation) */
  user: UserInfo | null;
  impersonation: Impersonation | null;
  /** HTTP status sent (filled in when the response starts; 101 for upgrades) */
  status?: number;
}

export interface AuthzAttributes {
  user: UserInfo;
  verb: string;
  group: string;
  version: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  path: string;
}

export interface FakeApiServerOptions {
  /** Bearer token accepted as `tokenUser` (default: random). */
  token?: string;
  tokenUser?: UserInfo;
  /** Extra bearer tokens → users. */
  tokens?: Record<string, UserInfo>;
  /** TLS material; generated with test/helpers/tls.ts when absent. */
  tls?: { caPem: string; serverCertPem: string; serverKeyPem: string; clientCertPem?: string; clientKeyPem?: string };
  /** Extra CA(s) whose client certificates are accepted (PEM). */
  clientCaPem?: string;
  /** CN / O of the generated admin client certificate. */
  clientCN?: string;
  clientOrgs?: string[];
  host?: string;
  port?: number;
  /** Period of generated lines for `logs -f` (ms, 0 = none). Default 200. */
  logIntervalMs?: number;
  /** Delay before a created pod becomes Running (ms). Default 20. */
  podStartDelayMs?: number;
  /** Keep at most this many recorded requests (oldest dropped). Default 100000. 0 disables recording. */
  maxRecordedRequests?: number;
  /** Authorization hook; return false → 403 Forbidden. Default: allow all. */
  authorize?: (attrs: AuthzAttributes) => boolean;
  /** May `user` impersonate? Default: yes. */
  canImpersonate?: (user: UserInfo, target: Impersonation) => boolean;
  /**
   * Target of `kubectl port-forward` connections: return a connected Duplex (e.g. net.connect)
   * or null to refuse. Default: every pod port is an echo server.
   */
  portForward?: (target: { namespace: string; pod: string; port: number }) => Duplex | null;
  /** gitVersion reported by /version. Default v1.35.0. */
  gitVersion?: string;
}

export interface PortForwardInfo {
  namespace: string;
  pod: string;
  /** 'spdy' (raw HTTP upgrade), 'spdy-over-websocket' (kubectl >= 1.31 default), 'websocket' (v4.channel.k8s.io) */
  transport: 'spdy' | 'spdy-over-websocket' | 'websocket';
  /** one entry per forwarded connection */
  forwarded: { port: number; requestId: string; bytes: number }[];
  closed: boolean;
}

export interface KubeconfigOptions {
  context?: string;
  cluster?: string;
  user?: string;
  namespace?: string;
  /** 'cert' (default) uses the server's admin client cert; 'token' uses the bearer token. */
  auth?: 'cert' | 'token';
  /** Override credentials. */
  clientCertPem?: string;
  clientKeyPem?: string;
  token?: string;
  /** Override server URL (e.g. to point at a proxy). */
  server?: string;
}

export interface FakeApiServer {
  readonly url: string;
  readonly port: number;
  readonly caPem: string;
  /** An admin client certificate the server accepts (CN clientCN, O clientOrgs). */
  readonly clientCertPem: string;
  readonly clientKeyPem: string;
  readonly token: string;
  /** All recorded requests (plain + upgrade), oldest first. */
  readonly requests: RecordedRequest[];
  /** exec/attach sessions (live objects; fields update as the session runs). */
  readonly execSessions: ChannelSessionInfo[];
  /** port-forward sessions (live objects). */
  readonly portForwards: PortForwardInfo[];
  /** Impersonation of the most recent request matching `filter` (default: any); null if it carried none. */
  lastImpersonation(filter?: (r: RecordedRequest) => boolean): Impersonation | null;
  clearRequests(): void;
  /** Append a log line to a pod (delivered to `logs -f` followers and attach sessions). */
  emitLog(namespace: string, pod: string, line: string): void;
  /** Live streams: watches, log follows, exec/attach/port-forward sessions, raw upgrades. */
  openStreams(): number;
  /** Kubeconfig text for direct access. */
  kubeconfig(opts?: KubeconfigOptions): string;
  /** Write a kubeconfig (mode 0600) and return its path. */
  writeKubeconfig(file: string, opts?: KubeconfigOptions): Promise<string>;
  /** Read / write objects bypassing HTTP (emits watch events like the API would). */
  getObject(apiVersion: string, resource: string, namespace: string, name: string): KObj | undefined;
  putObject(obj: KObj): KObj;
  deleteObject(apiVersion: string, resource: string, namespace: string, name: string): boolean;
  /** Current global resourceVersion. */
  resourceVersion(): string;
  close(): Promise<void>;
}

// ---------------------------------------------------------------- helpers

type AnyReq = IncomingMessage | Http2ServerRequest;
type AnyRes = ServerResponse | Http2ServerResponse;

class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: KObj,
  ) {
    super(message);
  }
}

function statusObj(code: number, reason: string, message: string, details?: KObj): KObj {
  const s: KObj = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason };
  if (details) s.details = details;
  s.code = code;
  return s;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict', 500: 'Internal Server Error',
};

const notFound = (r: ResourceDef, name: string) =>
  new ApiError(404, 'NotFound', `${r.group ? `${r.resource}.${r.group}` : r.resource} "${name}" not found`, {
    name, ...(r.group ? { group: r.group } : {}), kind: r.resource,
  });
const nsNotFound = (ns: string) => new ApiError(404, 'NotFound', `namespaces "${ns}" not found`, { name: ns, kind: 'namespaces' });
const resName = (r: ResourceDef) => (r.group ? `${r.resource}.${r.group}` : r.resource);

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function invalid(r: ResourceDef, name: string, field: string, causeReason: string, msg: string): ApiError {
  return new ApiError(422, 'Invalid', `${r.kind} "${name}" is invalid: ${field}: ${msg}`, {
    name, ...(r.group ? { group: r.group } : {}), kind: r.kind,
    causes: [{ reason: causeReason, message: msg, field }],
  });
}

function parseQuery(raw: string): { params: URLSearchParams; obj: Record<string, string | string[]> } {
  const params = new URLSearchParams(raw);
  const obj: Record<string, string | string[]> = {};
  for (const [k, v] of params) {
    const cur = obj[k];
    if (cur === undefined) obj[k] = v;
    else if (Array.isArray(cur)) cur.push(v);
    else obj[k] = [cur, v];
  }
  return { params, obj };
}

function nowIso(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

function randSuffix(n = 5): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  const b = randomBytes(n);
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[b[i]! % alphabet.length];
  return s;
}

function isTruthy(v: string | null): boolean {
  return v === 'true' || v === '1';
}

interface Accept {
  table: boolean;
  partial: boolean;
}
function parseAccept(h: string | undefined): Accept {
  if (!h) return { table: false, partial: false };
  // first acceptable entry wins
  for (const part of h.split(',')) {
    const p = part.trim().toLowerCase();
    if (p.includes('as=table') && p.includes('g=meta.k8s.io')) return { table: true, partial: false };
    if (p.includes('as=partialobjectmetadata') && p.includes('g=meta.k8s.io')) return { table: false, partial: true };
    if (p.startsWith('application/json') || p.startsWith('*/*') || p.startsWith('application/*')) return { table: false, partial: false };
  }
  return { table: false, partial: false };
}

const TABLE_CT = 'application/json;as=Table;v=v1;g=meta.k8s.io';

// ---------------------------------------------------------------- server

const maskProtocol = (p: string) => p.replace(/\//g, '_SLASH_');
const unmaskProtocol = (p: string) => p.replace(/_SLASH_/g, '/');

interface LogState {
  lines: { ts: string; text: string }[];
  followers: Set<(line: { ts: string; text: string }) => void>;
  counter: number;
  timer?: NodeJS.Timeout;
}

export async function startFakeApiServer(opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
  const host = opts.host ?? '127.0.0.1';
  const logIntervalMs = opts.logIntervalMs ?? 200;
  const podStartDelayMs = opts.podStartDelayMs ?? 20;
  const maxRecorded = opts.maxRecordedRequests ?? 100_000;
  const gitVersion = opts.gitVersion ?? 'v1.35.0';

  let tls = opts.tls;
  if (!tls) tls = await makeTestPki({ clientCN: opts.clientCN ?? 'fake-admin', clientOrgs: opts.clientOrgs ?? ['system:masters'] });
  // with caller-supplied TLS and no client cert, kubeconfig() falls back to the bearer token
  const clientCertPem = tls.clientCertPem;
  const clientKeyPem = tls.clientKeyPem;
  const caPem = tls.caPem;
  const token = opts.token ?? randomBytes(24).toString('hex');
  const tokens = new Map<string, UserInfo>(Object.entries(opts.tokens ?? {}));
  tokens.set(token, opts.tokenUser ?? { username: 'fake-token-user', groups: ['system:masters'] });

  const store = new Store();
  const requests: RecordedRequest[] = [];
  const execSessions: ChannelSessionInfo[] = [];
  const portForwards: PortForwardInfo[] = [];
  let seq = 0;
  let streams = 0;
  const logs = new Map<string, LogState>(); // ns/pod
  const podFs = new Map<string, PodFs>(); // uid
  const attachSubs = new Map<string, Set<(line: string) => void>>(); // ns/pod
  const streamClosers = new Set<() => void>();
  const sockets = new Set<Duplex>();
  const fsBase = mkdtempSync(path.join(os.tmpdir(), 'fake-apiserver-'));
  const podTimers = new Set<NodeJS.Timeout>();

  const R = (group: string, resource: string) => findResource(group, 'v1', resource)!;
  const NS = R('', 'namespaces');
  const PODS = R('', 'pods');

  // ------------------------------------------------------------ seed
  for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
    store.create(NS, defaults(NS, { metadata: { name: ns } }));
  }
  store.create(R('', 'nodes'), {
    metadata: { name: 'fake-node', labels: { 'kubernetes.io/hostname': 'fake-node', 'kubernetes.io/os': 'linux' } },
    spec: {},
    status: {
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: nowIso(), lastTransitionTime: nowIso() }],
      addresses: [{ type: 'InternalIP', address: '10.0.0.1' }, { type: 'Hostname', address: 'fake-node' }],
      nodeInfo: { kubeletVersion: gitVersion, osImage: 'Fake Linux', operatingSystem: 'linux', architecture: 'amd64', containerRuntimeVersion: 'containerd://2.0.0', kernelVersion: '6.1.0', kubeProxyVersion: '', machineID: '', systemUUID: '', bootID: '' },
    },
  });
  for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
    store.create(R('', 'serviceaccounts'), { metadata: { name: 'default', namespace: ns } });
  }
  store.create(R('', 'services'), defaults(R('', 'services'), {
    metadata: { name: 'kubernetes', namespace: 'default', labels: { component: 'apiserver', provider: 'kubernetes' } },
    spec: { clusterIP: '10.96.0.1', ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }], type: 'ClusterIP' },
  }));

  // ------------------------------------------------------------ defaults & pod lifecycle
  let ipCounter = 2;
  function defaults(r: ResourceDef, o: KObj): KObj {
    o.metadata ??= {};
    switch (r.resource) {
      case 'namespaces':
        o.metadata.labels = { ...(o.metadata.labels ?? {}), 'kubernetes.io/metadata.name': o.metadata.name };
        o.spec = { finalizers: ['kubernetes'], ...(o.spec ?? {}) };
        o.status = { phase: 'Active' };
        break;
      case 'pods':
        o.spec ??= {};
        o.spec.restartPolicy ??= 'Always';
        o.spec.dnsPolicy ??= 'ClusterFirst';
        o.spec.schedulerName ??= 'default-scheduler';
        o.spec.serviceAccountName ??= 'default';
        o.spec.terminationGracePeriodSeconds ??= 30;
        o.spec.enableServiceLinks ??= true;
        o.spec.priority ??= 0;
        for (const c of o.spec.containers ?? []) {
          c.imagePullPolicy ??= /:latest$|^[^:]+$/.test(c.image ?? '') ? 'Always' : 'IfNotPresent';
          c.terminationMessagePath ??= '/dev/termination-log';
          c.terminationMessagePolicy ??= 'File';
          c.resources ??= {};
        }
        o.status = { phase: 'Pending', qosClass: 'BestEffort' };
        break;
      case 'services':
        o.spec ??= {};
        o.spec.type ??= 'ClusterIP';
        o.spec.sessionAffinity ??= 'None';
        if (o.spec.clusterIP === undefined && o.spec.type !== 'ExternalName') {
          const n = ipCounter++;
          o.spec.clusterIP = `10.96.${(n >> 8) & 255}.${n & 255}`;
        }
        if (o.spec.clusterIP) o.spec.clusterIPs ??= [o.spec.clusterIP];
        for (const p of o.spec.ports ?? []) {
          p.protocol ??= 'TCP';
          p.targetPort ??= p.port;
        }
        o.status ??= { loadBalancer: {} };
        break;
      case 'secrets':
        o.type ??= 'Opaque';
        if (o.stringData) {
          o.data ??= {};
          for (const [k, v] of Object.entries(o.stringData)) o.data[k] = Buffer.from(String(v)).toString('base64');
          delete o.stringData;
        }
        break;
      case 'deployments': {
        o.spec ??= {};
        o.spec.replicas ??= 1;
        o.spec.strategy ??= { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } };
        o.spec.revisionHistoryLimit ??= 10;
        o.spec.progressDeadlineSeconds ??= 600;
        deploymentStatus(o);
        break;
      }
    }
    return o;
  }

  function deploymentStatus(o: KObj): void {
    const n = o.spec?.replicas ?? 1;
    o.status = {
      observedGeneration: o.metadata.generation ?? 1,
      replicas: n, updatedReplicas: n, readyReplicas: n, availableReplicas: n,
      conditions: [
        { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.', lastUpdateTime: nowIso(), lastTransitionTime: nowIso() },
        { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: 'ReplicaSet has successfully progressed.', lastUpdateTime: nowIso(), lastTransitionTime: nowIso() },
      ],
    };
    if (!n) {
      delete o.status.readyReplicas;
      delete o.status.availableReplicas;
    }
  }

  function schedulePodStart(ns: string, name: string, uid: string): void {
    const t = setTimeout(() => {
      podTimers.delete(t);
      const cur = store.get(PODS, ns, name);
      if (!cur || cur.metadata.uid !== uid || cur.status?.phase !== 'Pending') return;
      const pod = clone(cur);
      const ts = nowIso();
      const n = ipCounter++;
      const ip = `10.244.${(n >> 8) & 255}.${n & 255}`;
      pod.spec.nodeName ??= 'fake-node';
      pod.status = {
        phase: 'Running',
        conditions: ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({
          type, status: 'True', lastProbeTime: null, lastTransitionTime: ts,
        })),
        hostIP: '10.0.0.1',
        hostIPs: [{ ip: '10.0.0.1' }],
        podIP: ip,
        podIPs: [{ ip }],
        startTime: ts,
        qosClass: 'BestEffort',
        containerStatuses: (pod.spec.containers ?? []).map((c: KObj) => ({
          name: c.name,
          state: { running: { startedAt: ts } },
          lastState: {},
          ready: true,
          restartCount: 0,
          image: c.image,
          imageID: `${c.image}@sha256:${randomBytes(32).toString('hex')}`,
          containerID: `containerd://${randomBytes(32).toString('hex')}`,
          started: true,
        })),
      };
      store.update(PODS, pod);
      const ls = logState(ns, name);
      for (let i = 0; i < 3; i++) appendLog(ns, name, `${name} log line ${++ls.counter}`);
    }, podStartDelayMs);
    podTimers.add(t);
  }

  // ------------------------------------------------------------ logs
  function logState(ns: string, pod: string): LogState {
    const k = `${ns}/${pod}`;
    let s = logs.get(k);
    if (!s) logs.set(k, (s = { lines: [], followers: new Set(), counter: 0 }));
    return s;
  }
  function appendLog(ns: string, pod: string, text: string): void {
    const s = logState(ns, pod);
    const line = { ts: new Date().toISOString(), text };
    s.lines.push(line);
    if (s.lines.length > 5000) s.lines.splice(0, s.lines.length - 5000);
    for (const f of s.followers) f(line);
    for (const a of attachSubs.get(`${ns}/${pod}`) ?? []) a(`${text}\n`);
  }
  function podGone(ns: string, name: string, uid?: string): void {
    const k = `${ns}/${name}`;
    const s = logs.get(k);
    if (s) {
      if (s.timer) clearInterval(s.timer);
      for (const f of s.followers) f({ ts: '', text: '\0EOF' });
      logs.delete(k);
    }
    if (uid) {
      const pf = podFs.get(uid);
      if (pf) {
        podFs.delete(uid);
        void fsp.rm(pf.root, { recursive: true, force: true });
      }
    }
  }

  // ------------------------------------------------------------ auth
  const authCache = new WeakMap<object, UserInfo | null>();
  function certUser(sock: TLSSocket | undefined): UserInfo | null {
    if (!sock) return null;
    const cached = authCache.get(sock);
    if (cached !== undefined) return cached;
    let u: UserInfo | null = null;
    try {
      if (sock.authorized) {
        const cert = sock.getPeerCertificate();
        const cn = cert?.subject?.CN;
        if (cn) {
          const o = cert.subject.O as unknown as string | string[] | undefined;
          const orgs = o === undefined ? [] : Array.isArray(o) ? o : [o];
          u = { username: Array.isArray(cn) ? cn[0]! : cn, groups: [...orgs, 'system:authenticated'] };
        }
      }
    } catch {
      u = null;
    }
    authCache.set(sock, u);
    return u;
  }

  function authenticate(sock: TLSSocket | undefined, headers: IncomingHttpHeaders): { user: UserInfo | null; method: 'cert' | 'token' | null } {
    const cu = certUser(sock);
    if (cu) return { user: cu, method: 'cert' };
    const a = headers.authorization;
    if (typeof a === 'string' && /^bearer\s+/i.test(a)) {
      const t = a.replace(/^bearer\s+/i, '').trim();
      const tu = tokens.get(t);
      if (tu) {
        const groups = tu.groups.includes('system:authenticated') ? tu.groups : [...tu.groups, 'system:authenticated'];
        return { user: { ...tu, groups }, method: 'token' };
      }
    }
    return { user: null, method: null };
  }

  function parseImpersonation(rawHeaders: string[]): Impersonation | null {
    let found = false;
    const imp: Impersonation = { groups: [], extra: {} };
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toLowerCase();
      if (!name.startsWith('impersonate-')) continue;
      const v = rawHeaders[i + 1]!;
      found = true;
      if (name === 'impersonate-user') imp.user = v;
      else if (name === 'impersonate-uid') imp.uid = v;
      else if (name === 'impersonate-group') imp.groups.push(v);
      else if (name.startsWith('impersonate-extra-')) {
        let key = name.slice('impersonate-extra-'.length);
        try {
          key = decodeURIComponent(key);
        } catch {
          /* keep raw */
        }
        (imp.extra[key] ??= []).push(v);
      }
    }
    return found ? imp : null;
  }

  function effectiveUser(authUser: UserInfo, imp: Impersonation | null): UserInfo {
    if (!imp) return authUser;
    if (imp.user === undefined) {
      throw new ApiError(400, 'BadRequest', `requested ${JSON.stringify(imp)} without impersonating a user`);
    }
    if (opts.canImpersonate && !opts.canImpersonate(authUser, imp)) {
      throw new ApiError(403, 'Forbidden', `users "${imp.user}" is forbidden: User "${authUser.username}" cannot impersonate resource "users" in API group "" at the cluster scope`, { name: imp.user, kind: 'users' });
    }
    const groups = [...imp.groups];
    if (imp.user !== 'system:anonymous' && !groups.includes('system:authenticated')) groups.push('system:authenticated');
    const u: UserInfo = { username: imp.user, groups };
    if (imp.uid !== undefined) u.uid = imp.uid;
    if (Object.keys(imp.extra).length) u.extra = imp.extra;
    return u;
  }

  function record(r: RecordedRequest): void {
    if (maxRecorded <= 0) return;
    requests.push(r);
    if (requests.length > maxRecorded) requests.splice(0, requests.length - maxRecorded);
  }

  // ------------------------------------------------------------ responses
  function baseHeaders(): Record<string, string> {
    return {
      'audit-id': randomUUID(),
      'cache-control': 'no-cache, private',
    };
  }
  function sendJson(res: AnyRes, code: number, obj: unknown, ct = 'application/json', rec?: RecordedRequest): void {
    const body = JSON.stringify(obj);
    if (rec) rec.status = code;
    (res as ServerResponse).writeHead(code, { ...baseHeaders(), 'content-type': ct, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }
  function sendError(res: AnyRes, e: ApiError, rec?: RecordedRequest): void {
    const headers: Record<string, string> = {};
    if (e.code === 401) headers['www-authenticate'] = 'Basic realm="kubernetes-master"';
    const body = JSON.stringify(statusObj(e.code, e.reason, e.message, e.details));
    if (rec) rec.status = e.code;
    (res as ServerResponse).writeHead(e.code, { ...baseHeaders(), ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }
  function rawError(socket: Duplex, e: ApiError): void {
    const body = JSON.stringify(statusObj(e.code, e.reason, e.message, e.details));
    socket.end(
      `HTTP/1.1 ${e.code} ${STATUS_TEXT[e.code] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }

  async function readBody(req: AnyReq): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
    return Buffer.concat(chunks);
  }
  function parseBody(buf: Buffer, ct: string | undefined): KObj {
    const t = (ct ?? 'application/json').split(';')[0]!.trim().toLowerCase();
    if (t === 'application/vnd.kubernetes.protobuf') {
      try {
        const { obj, unknownFields } = decodeK8sProtobuf(buf);
        if (unknownFields.length && process.env.FAKE_APISERVER_DEBUG) console.error('[fake-apiserver] unknown protobuf fields', unknownFields);
        return obj;
      } catch (e) {
        if (process.env.FAKE_APISERVER_DEBUG && buf.length > 4) console.error('[fake-apiserver] protobuf dump', JSON.stringify(dumpProto(buf.subarray(4))));
        throw new ApiError(415, 'UnsupportedMediaType', `the body of the request could not be decoded by the fake apiserver: ${(e as Error).message}`);
      }
    }
    if (t.includes('protobuf') || t.includes('cbor')) {
      throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/merge-patch+json, application/strategic-merge-patch+json, application/json-patch+json, application/apply-patch+yaml`);
    }
    const text = buf.toString('utf8');
    if (!text.trim()) throw new ApiError(400, 'BadRequest', 'the body of the request was empty');
    try {
      if (t.includes('yaml')) return YAML.parse(text);
      return JSON.parse(text);
    } catch (e) {
      throw new ApiError(400, 'BadRequest', `the body of the request could not be decoded: ${(e as Error).message}`);
    }
  }

  // ------------------------------------------------------------ routing
  interface Route {
    r: ResourceDef;
    ns: string;
    name: string;
    sub: string;
    watchPath: boolean;
  }

  function parseResourcePath(segs: string[]): Route | null | 'discovery' {
    let group = '';
    let version: string;
    let rest: string[];
    if (segs[0] === 'api') {
      if (segs[1] !== 'v1') return null;
      version = 'v1';
      rest = segs.slice(2);
    } else if (segs[0] === 'apis') {
      if (segs.length < 3) return null;
      group = segs[1]!;
      version = segs[2]!;
      rest = segs.slice(3);
    } else return null;
    if (!rest.length) return 'discovery';
    let watchPath = false;
    if (rest[0] === 'watch') {
      watchPath = true;
      rest = rest.slice(1);
    }
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      const r = findResource(group, version, rest[2]!);
      if (r && r.namespaced) {
        if (rest.length > 5) return null;
        return { r, ns: rest[1]!, name: rest[3] ?? '', sub: rest[4] ?? '', watchPath };
      }
    }
    const r = findResource(group, version, rest[0]!);
    if (!r || rest.length > 3) return null;
    return { r, ns: '', name: rest[1] ?? '', sub: rest[2] ?? '', watchPath };
  }

  function authorizeOrThrow(user: UserInfo, verb: string, rt: Route, p: string): void {
    if (!opts.authorize) return;
    const attrs: AuthzAttributes = {
      user, verb, group: rt.r.group, version: rt.r.version, resource: rt.r.resource, subresource: rt.sub, namespace: rt.ns, name: rt.name, path: p,
    };
    if (opts.authorize(attrs)) return;
    const what = `${rt.r.resource}${rt.sub ? `/${rt.sub}` : ''}`;
    const scope = rt.ns ? `in the namespace "${rt.ns}"` : 'at the cluster scope';
    throw new ApiError(
      403, 'Forbidden',
      `${rt.name ? `${resName(rt.r)} "${rt.name}"` : resName(rt.r)} is forbidden: User "${user.username}" cannot ${verb} resource "${what}" in API group "${rt.r.group}" ${scope}`,
      { ...(rt.name ? { name: rt.name } : {}), ...(rt.r.group ? { group: rt.r.group } : {}), kind: rt.r.resource },
    );
  }

  function requireNamespace(ns: string): void {
    if (!store.get(NS, '', ns)) throw nsNotFound(ns);
  }

  function filterOf(params: URLSearchParams): (o: KObj) => boolean {
    try {
      const l = parseLabelSelector(params.get('labelSelector'));
      const f = parseFieldSelector(params.get('fieldSelector'));
      return (o) => l(o) && f(o);
    } catch (e) {
      if (e instanceof SelectorError) throw new ApiError(400, 'BadRequest', e.message);
      throw e;
    }
  }

  function includeOf(params: URLSearchParams): IncludeObject {
    const v = params.get('includeObject');
    return v === 'None' || v === 'Object' ? v : 'Metadata';
  }

  function formatOne(r: ResourceDef, o: KObj, accept: Accept, params: URLSearchParams): { body: KObj; ct: string } {
    if (accept.table) return { body: toTable(r, [o], { resourceVersion: o.metadata.resourceVersion }, includeOf(params)), ct: TABLE_CT };
    if (accept.partial) return { body: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata }, ct: 'application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io' };
    return { body: o, ct: 'application/json' };
  }

  async function handle(req: AnyReq, res: AnyRes): Promise<void> {
    const url = req.url ?? '/';
    const qi = url.indexOf('?');
    const p = qi >= 0 ? url.slice(0, qi) : url;
    const rawQuery = qi >= 0 ? url.slice(qi + 1) : '';
    const { params, obj: queryObj } = parseQuery(rawQuery);
    const sock = ((req as Http2ServerRequest).stream ? (req as Http2ServerRequest).stream.session?.socket : req.socket) as TLSSocket | undefined;
    const { user: authUser, method: authMethod } = authenticate(sock, req.headers);
    const imp = parseImpersonation(req.rawHeaders);
    const rec: RecordedRequest = {
      seq: ++seq, time: Date.now(), method: req.method ?? 'GET', path: p, rawQuery, query: queryObj,
      headers: req.headers, rawHeaders: req.rawHeaders, httpVersion: req.httpVersion, upgrade: false,
      authUser, authMethod, user: null, impersonation: imp,
    };
    record(rec);
    try {
      if (!authUser) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
      const user = effectiveUser(authUser, imp);
      rec.user = user;
      await route(req, res, rec, p, params, user);
    } catch (e) {
      if (res.headersSent) {
        res.end();
        return;
      }
      if (e instanceof ApiError) sendError(res, e, rec);
      else sendError(res, new ApiError(500, 'InternalError', `Internal error occurred: ${(e as Error).message}`), rec);
    }
  }

  async function route(req: AnyReq, res: AnyRes, rec: RecordedRequest, p: string, params: URLSearchParams, user: UserInfo): Promise<void> {
    const method = req.method ?? 'GET';
    const accept = String(req.headers.accept ?? '');
    const segs = p.split('/').filter(Boolean);

    // --- non-resource endpoints
    if (method === 'GET') {
      switch (p) {
        case '/version':
        case '/version/': {
          const m = /^v(\d+)\.(\d+)/.exec(gitVersion);
          return sendJson(res, 200, {
            major: m?.[1] ?? '1', minor: m?.[2] ?? '35', emulationMajor: m?.[1] ?? '1', emulationMinor: m?.[2] ?? '35',
            minCompatibilityMajor: '1', minCompatibilityMinor: String(Number(m?.[2] ?? 35) - 1),
            gitVersion, gitCommit: '0000000000000000000000000000000000000000', gitTreeState: 'clean',
            buildDate: '2025-12-17T00:00:00Z', goVersion: 'go1.25.5', compiler: 'gc', platform: 'linux/amd64',
          }, 'application/json', rec);
        }
        case '/healthz':
        case '/livez':
        case '/readyz':
          rec.status = 200;
          (res as ServerResponse).writeHead(200, { ...baseHeaders(), 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' });
          res.end('ok');
          return;
        case '/api':
        case '/api/':
        case '/apis':
        case '/apis/': {
          const which = p.startsWith('/apis') ? 'apis' : 'api';
          if (accept.includes('g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList')) {
            return sendJson(res, 200, aggregatedDoc(which, 'apidiscovery.k8s.io/v2'), AGGREGATED_CT, rec);
          }
          if (accept.includes('g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList')) {
            return sendJson(res, 200, aggregatedDoc(which, 'apidiscovery.k8s.io/v2beta1'), AGGREGATED_CT_V2BETA1, rec);
          }
          const hostHdr = String(req.headers.host ?? req.headers[':authority'] ?? `${host}:${port}`);
          return sendJson(res, 200, which === 'api' ? apiVersionsDoc(hostHdr) : apiGroupListDoc(), 'application/json', rec);
        }
        case '/openapi/v2':
          throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
        case '/openapi/v3':
        case '/openapi/v3/':
          return sendJson(res, 200, openapiV3Root('4B7E7D3F1AC1E6B1'), 'application/json', rec);
      }
      if (p.startsWith('/openapi/v3/')) {
        const doc = openapiV3GroupVersion(p.slice('/openapi/v3/'.length));
        if (!doc) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
        return sendJson(res, 200, doc, 'application/json', rec);
      }
      if (segs[0] === 'apis' && segs.length === 2) {
        const g = apiGroupDoc(segs[1]!);
        if (g) return sendJson(res, 200, g, 'application/json', rec);
      }
    }

    if (p === '/echo-upgrade') throw new ApiError(400, 'BadRequest', 'Upgrade request required');

    const rt = parseResourcePath(segs);
    if (rt === 'discovery') {
      if (method !== 'GET') throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
      const doc = segs[0] === 'api' ? apiResourceListDoc('', 'v1') : apiResourceListDoc(segs[1]!, segs[2]!);
      if (!doc) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      return sendJson(res, 200, doc, 'application/json', rec);
    }
    if (!rt) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');

    const { r } = rt;
    const acc = parseAccept(accept);
    const dryRun = params.get('dryRun') === 'All';

    // --- virtual review resources
    if (r.virtual) {
      if (method !== 'POST' || rt.name) throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
      authorizeOrThrow(user, 'create', rt, p);
      const body = parseBody(await readBody(req), req.headers['content-type']);
      return sendJson(res, 201, review(r, body, user), 'application/json', rec);
    }

    // --- subresources
    if (rt.sub) {
      if (!rt.name) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      if (r.resource === 'pods' && (rt.sub === 'exec' || rt.sub === 'attach' || rt.sub === 'portforward')) {
        authorizeOrThrow(user, method === 'GET' ? 'get' : 'create', rt, p);
        const pod = store.get(r, rt.ns, rt.name);
        if (!pod) throw notFound(r, rt.name);
        throw new ApiError(400, 'BadRequest', 'Upgrade request required');
      }
      if (r.resource === 'pods' && rt.sub === 'log') {
        if (method !== 'GET') throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
        authorizeOrThrow(user, 'get', rt, p);
        return podLogs(req, res, rec, rt, params);
      }
      if (r.resource === 'deployments' && rt.sub === 'scale') return scale(req, res, rec, rt, params, user, p);
      if (!r.subresources?.some((s) => s.name === rt.sub)) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      // status / finalize: operate on the main object
    }

    if (r.namespaced && rt.ns && method !== 'GET' && method !== 'DELETE') requireNamespace(rt.ns);

    const isWatch = rt.watchPath || isTruthy(params.get('watch'));
    switch (method) {
      case 'GET': {
        if (rt.name && !isWatch) {
          authorizeOrThrow(user, 'get', rt, p);
          const o = store.get(r, rt.ns, rt.name);
          if (!o) throw notFound(r, rt.name);
          const f = formatOne(r, o, acc, params);
          return sendJson(res, 200, f.body, f.ct, rec);
        }
        if (isWatch) {
          authorizeOrThrow(user, 'watch', rt, p);
          if (rt.name) params.set('fieldSelector', [params.get('fieldSelector'), `metadata.name=${rt.name}`].filter(Boolean).join(','));
          return watch(req, res, rec, rt, params, acc);
        }
        authorizeOrThrow(user, 'list', rt, p);
        return list(res, rec, rt, params, acc);
      }
      case 'POST': {
        if (rt.name) throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
        authorizeOrThrow(user, 'create', rt, p);
        if (r.namespaced && !rt.ns) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
        const body = parseBody(await readBody(req), req.headers['content-type']);
        const created = createObject(r, rt.ns, body, dryRun);
        return sendJson(res, 201, created, 'application/json', rec);
      }
      case 'PUT': {
        if (!rt.name) throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
        authorizeOrThrow(user, 'update', rt, p);
        const body = parseBody(await readBody(req), req.headers['content-type']);
        return sendJson(res, 200, updateObject(r, rt.ns, rt.name, body, rt.sub, dryRun), 'application/json', rec);
      }
      case 'PATCH': {
        if (!rt.name) throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
        authorizeOrThrow(user, 'patch', rt, p);
        const ct = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        const buf = await readBody(req);
        const { obj, created } = patchObject(r, rt.ns, rt.name, ct, buf, rt.sub, dryRun, params);
        return sendJson(res, created ? 201 : 200, obj, 'application/json', rec);
      }
      case 'DELETE': {
        const buf = await readBody(req);
        let opts: KObj = {};
        if (buf.length) {
          try {
            opts = JSON.parse(buf.toString('utf8'));
          } catch {
            throw new ApiError(400, 'BadRequest', 'the body of the request could not be decoded');
          }
        }
        if (!rt.name) {
          authorizeOrThrow(user, 'deletecollection', rt, p);
          const filter = filterOf(params);
          const items = store.list(r, rt.ns || undefined).filter(filter).map((o) => deleteObject(r, o.metadata.namespace ?? '', o.metadata.name, {}, dryRun));
          return sendJson(res, 200, { kind: `${r.kind}List`, apiVersion: apiVersionOf(r), metadata: { resourceVersion: String(store.rv) }, items }, 'application/json', rec);
        }
        authorizeOrThrow(user, 'delete', rt, p);
        const deleted = deleteObject(r, rt.ns, rt.name, opts, dryRun);
        return sendJson(res, 200, deleted, 'application/json', rec);
      }
      default:
        throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
    }
  }

  // ------------------------------------------------------------ reviews
  function review(r: ResourceDef, body: KObj, user: UserInfo): KObj {
    const base = { kind: r.kind, apiVersion: apiVersionOf(r), metadata: { creationTimestamp: nowIso() } };
    const ui: KObj = { username: user.username, groups: user.groups };
    if (user.uid) ui.uid = user.uid;
    if (user.extra) ui.extra = user.extra;
    switch (r.resource) {
      case 'selfsubjectreviews':
        return { ...base, status: { userInfo: ui } };
      case 'tokenreviews': {
        const t = tokens.get(body?.spec?.token ?? '');
        return {
          ...base, spec: body?.spec ?? {},
          status: t ? { authenticated: true, user: { username: t.username, groups: [...t.groups, 'system:authenticated'] }, audiences: body?.spec?.audiences ?? [] } : { authenticated: false, error: 'invalid bearer token' },
        };
      }
      case 'selfsubjectaccessreviews': {
        const ra = body?.spec?.resourceAttributes;
        let allowed = true;
        if (opts.authorize && ra) {
          allowed = opts.authorize({
            user, verb: ra.verb ?? '', group: ra.group ?? '', version: ra.version ?? '', resource: ra.resource ?? '', subresource: ra.subresource ?? '',
            namespace: ra.namespace ?? '', name: ra.name ?? '', path: '',
          });
        }
        return { ...base, spec: body?.spec ?? {}, status: allowed ? { allowed: true, reason: 'fake apiserver allows' } : { allowed: false } };
      }
      case 'selfsubjectrulesreviews':
        return {
          ...base, spec: body?.spec ?? {},
          status: { resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }], nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }], incomplete: false },
        };
    }
    return base;
  }

  // ------------------------------------------------------------ CRUD
  function validateName(r: ResourceDef, name: string): void {
    const re = r.resource === 'namespaces' || r.resource === 'services' ? DNS1123_LABEL : DNS1123_SUBDOMAIN;
    if (!re.test(name) || name.length > (re === DNS1123_LABEL ? 63 : 253)) {
      const msg = re === DNS1123_LABEL
        ? `Invalid value: "${name}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`
        : `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`;
      throw invalid(r, name, 'metadata.name', 'FieldValueInvalid', msg);
    }
  }

  function checkKind(r: ResourceDef, body: KObj): void {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ApiError(400, 'BadRequest', 'the body of the request must be an object');
    if (body.kind && body.kind !== r.kind) {
      throw new ApiError(400, 'BadRequest', `the API version in the data (${body.apiVersion}) does not match the expected API version (${apiVersionOf(r)})`);
    }
    if (body.apiVersion && body.apiVersion !== apiVersionOf(r)) {
      throw new ApiError(400, 'BadRequest', `the API version in the data (${body.apiVersion}) does not match the expected API version (${apiVersionOf(r)})`);
    }
  }

  function createObject(r: ResourceDef, ns: string, body: KObj, dryRun: boolean): KObj {
    checkKind(r, body);
    const o = clone(body);
    o.metadata ??= {};
    if (r.namespaced) {
      if (o.metadata.namespace && o.metadata.namespace !== ns) {
        throw new ApiError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
      }
      o.metadata.namespace = ns;
      requireNamespace(ns);
    } else delete o.metadata.namespace;
    if (!o.metadata.name && o.metadata.generateName) o.metadata.name = `${o.metadata.generateName}${randSuffix()}`;
    if (!o.metadata.name) throw invalid(r, '', 'metadata.name', 'FieldValueRequired', 'Required value: name or generateName is required');
    validateName(r, o.metadata.name);
    if (store.get(r, ns, o.metadata.name)) {
      throw new ApiError(409, 'AlreadyExists', `${resName(r)} "${o.metadata.name}" already exists`, {
        name: o.metadata.name, ...(r.group ? { group: r.group } : {}), kind: r.resource,
      });
    }
    if (r.resource === 'pods' && !(o.spec?.containers?.length)) {
      throw invalid(r, o.metadata.name, 'spec.containers', 'FieldValueRequired', 'Required value');
    }
    delete o.metadata.resourceVersion;
    delete o.metadata.uid;
    delete o.metadata.creationTimestamp;
    delete o.metadata.deletionTimestamp;
    defaults(r, o);
    const created = store.create(r, o, dryRun);
    if (!dryRun && r.resource === 'pods') schedulePodStart(ns, created.metadata.name, created.metadata.uid);
    return created;
  }

  function finishUpdate(r: ResourceDef, cur: KObj, next: KObj, sub: string, dryRun: boolean): KObj {
    if (typeof next !== 'object' || next === null) throw new ApiError(400, 'BadRequest', 'invalid object');
    next.metadata ??= {};
    const rv = next.metadata.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== cur.metadata.resourceVersion) {
      throw new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${resName(r)} "${cur.metadata.name}": the object has been modified; please apply your changes to the latest version and try again`, {
        name: cur.metadata.name, ...(r.group ? { group: r.group } : {}), kind: r.resource,
      });
    }
    let out: KObj;
    if (sub === 'status') {
      out = clone(cur);
      out.status = next.status;
    } else {
      out = next;
      out.metadata.name = cur.metadata.name;
      if (r.namespaced) out.metadata.namespace = cur.metadata.namespace;
      out.metadata.uid = cur.metadata.uid;
      out.metadata.creationTimestamp = cur.metadata.creationTimestamp;
      if (cur.metadata.generation !== undefined) {
        out.metadata.generation = JSON.stringify(out.spec) !== JSON.stringify(cur.spec) ? cur.metadata.generation + 1 : cur.metadata.generation;
      }
      if (r.resource === 'pods' || r.resource === 'namespaces') out.status = cur.status;
      if (r.resource === 'secrets' && out.stringData) defaults(r, out);
      if (r.resource === 'deployments') deploymentStatus(out);
      if (r.resource === 'namespaces') out.metadata.labels = { ...(out.metadata.labels ?? {}), 'kubernetes.io/metadata.name': out.metadata.name };
    }
    if (dryRun) out.metadata.resourceVersion = cur.metadata.resourceVersion;
    else delete out.metadata.resourceVersion;
    return store.update(r, out, dryRun);
  }

  function updateObject(r: ResourceDef, ns: string, name: string, body: KObj, sub: string, dryRun: boolean): KObj {
    checkKind(r, body);
    if (body.metadata?.name && body.metadata.name !== name) {
      throw new ApiError(400, 'BadRequest', `the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`);
    }
    const cur = store.get(r, ns, name);
    if (!cur) throw notFound(r, name);
    return finishUpdate(r, cur, clone(body), sub, dryRun);
  }

  function patchObject(r: ResourceDef, ns: string, name: string, ct: string, buf: Buffer, sub: string, dryRun: boolean, params: URLSearchParams): { obj: KObj; created: boolean } {
    const cur = store.get(r, ns, name);
    if (ct === 'application/apply-patch+yaml' || ct === 'application/apply-patch+json') {
      if (!params.get('fieldManager')) throw new ApiError(400, 'BadRequest', 'PATCH /apply requires fieldManager to be set');
      const body = parseBody(buf, 'application/yaml');
      checkKind(r, body);
      if (body.metadata?.name && body.metadata.name !== name) {
        throw new ApiError(400, 'BadRequest', `the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`);
      }
      if (!cur) {
        const b = clone(body);
        b.metadata ??= {};
        b.metadata.name = name;
        return { obj: createObject(r, ns, b, dryRun), created: true };
      }
      const merged = strategicMergePatch(clone(cur), body);
      delete merged.metadata.resourceVersion;
      if (body.metadata?.resourceVersion) merged.metadata.resourceVersion = body.metadata.resourceVersion;
      return { obj: finishUpdate(r, cur, merged, sub, dryRun), created: false };
    }
    if (!cur) throw notFound(r, name);
    let patch: unknown;
    try {
      patch = JSON.parse(buf.toString('utf8') || 'null');
    } catch (e) {
      throw new ApiError(400, 'BadRequest', `error decoding patch: ${(e as Error).message}`);
    }
    let next: KObj;
    const base = clone(cur);
    delete base.metadata.resourceVersion;
    try {
      switch (ct) {
        case 'application/merge-patch+json':
          next = mergePatch(base, patch);
          break;
        case 'application/strategic-merge-patch+json':
          next = strategicMergePatch(base, patch);
          break;
        case 'application/json-patch+json':
          next = jsonPatch(base, patch);
          break;
        default:
          throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`);
      }
    } catch (e) {
      if (e instanceof ApiError) throw e;
      throw new ApiError(422, 'Invalid', `${r.kind} "${name}" is invalid: patch: ${(e as Error).message}`);
    }
    return { obj: finishUpdate(r, cur, next, sub, dryRun), created: false };
  }

  function deleteObject(r: ResourceDef, ns: string, name: string, options: KObj, dryRun: boolean): KObj {
    const cur = store.get(r, ns, name);
    if (!cur) throw notFound(r, name);
    const pre = options?.preconditions;
    if (pre?.uid && pre.uid !== cur.metadata.uid) {
      throw new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${resName(r)} "${name}": Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${cur.metadata.uid}`);
    }
    if (pre?.resourceVersion && pre.resourceVersion !== cur.metadata.resourceVersion) {
      throw new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${resName(r)} "${name}": Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${cur.metadata.resourceVersion}`);
    }
    if (r.resource === 'namespaces' && ['default', 'kube-system', 'kube-public'].includes(name)) {
      throw new ApiError(403, 'Forbidden', `namespaces "${name}" is forbidden: this namespace may not be deleted`, { name, kind: 'namespaces' });
    }
    if (dryRun) return cur;
    if (r.resource === 'namespaces') {
      for (const rr of RESOURCES) {
        if (!rr.namespaced || rr.virtual) continue;
        for (const o of store.list(rr, name)) deleteObject(rr, name, o.metadata.name, {}, false);
      }
    }
    const deleted = store.delete(r, ns, name)!;
    if (r.resource === 'pods') podGone(ns, name, cur.metadata.uid);
    if (r.resource === 'namespaces') deleted.status = { phase: 'Terminating' };
    return deleted;
  }

  function scale(req: AnyReq, res: AnyRes, rec: RecordedRequest, rt: Route, params: URLSearchParams, user: UserInfo, p: string): Promise<void> | void {
    const method = req.method ?? 'GET';
    const cur = store.get(rt.r, rt.ns, rt.name);
    if (!cur) throw notFound(rt.r, rt.name);
    const toScale = (o: KObj) => ({
      kind: 'Scale', apiVersion: 'autoscaling/v1',
      metadata: { name: o.metadata.name, namespace: o.metadata.namespace, uid: o.metadata.uid, resourceVersion: o.metadata.resourceVersion, creationTimestamp: o.metadata.creationTimestamp },
      spec: { replicas: o.spec?.replicas ?? 1 },
      status: { replicas: o.status?.replicas ?? 0, selector: Object.entries(o.spec?.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',') },
    });
    if (method === 'GET') {
      authorizeOrThrow(user, 'get', rt, p);
      return sendJson(res, 200, toScale(cur), 'application/json', rec);
    }
    authorizeOrThrow(user, method === 'PUT' ? 'update' : 'patch', rt, p);
    return readBody(req).then((buf) => {
      const cts = String(req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim();
      const body = parseBody(buf, cts.includes('yaml') ? 'application/yaml' : 'application/json');
      let replicas: unknown;
      if (method === 'PUT') replicas = body?.spec?.replicas;
      else if (cts === 'application/json-patch+json') replicas = jsonPatch(toScale(cur), body).spec?.replicas;
      else replicas = (mergePatch(toScale(cur), body) as KObj).spec?.replicas;
      const next = clone(cur);
      next.spec.replicas = Number(replicas ?? next.spec.replicas);
      const out = finishUpdate(rt.r, cur, next, '', params.get('dryRun') === 'All');
      sendJson(res, 200, toScale(out), 'application/json', rec);
    });
  }

  // ------------------------------------------------------------ list & watch
  function list(res: AnyRes, rec: RecordedRequest, rt: Route, params: URLSearchParams, acc: Accept): void {
    const { r } = rt;
    if (r.namespaced && rt.ns) {
      /* listing in a missing namespace returns an empty list, like the real thing */
    }
    const filter = filterOf(params);
    let items = store.list(r, rt.ns || undefined).filter(filter);
    const rv = String(store.rv);
    const meta: KObj = { resourceVersion: rv };
    const limit = Number(params.get('limit') ?? 0);
    const cont = params.get('continue');
    let offset = 0;
    if (cont) {
      try {
        offset = JSON.parse(Buffer.from(cont, 'base64').toString('utf8')).offset ?? 0;
      } catch {
        throw new ApiError(400, 'BadRequest', 'continue key is not valid');
      }
    }
    if (offset) items = items.slice(offset);
    if (limit > 0 && items.length > limit) {
      meta.continue = Buffer.from(JSON.stringify({ offset: offset + limit, rv })).toString('base64');
      meta.remainingItemCount = items.length - limit;
      items = items.slice(0, limit);
    }
    if (acc.table) return sendJson(res, 200, toTable(r, items, meta, includeOf(params)), TABLE_CT, rec);
    if (acc.partial) {
      return sendJson(res, 200, {
        kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1', metadata: meta,
        items: items.map((o) => ({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata })),
      }, 'application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io', rec);
    }
    sendJson(res, 200, { kind: `${r.kind}List`, apiVersion: apiVersionOf(r), metadata: meta, items }, 'application/json', rec);
  }

  function watch(req: AnyReq, res: AnyRes, rec: RecordedRequest, rt: Route, params: URLSearchParams, acc: Accept): void {
    const { r } = rt;
    const filter = filterOf(params);
    const include = includeOf(params);
    const rvParam = params.get('resourceVersion');
    const sendInitial = isTruthy(params.get('sendInitialEvents'));
    const timeoutSec = Number(params.get('timeoutSeconds') ?? 0);
    rec.status = 200;
    (res as ServerResponse).writeHead(200, {
      ...baseHeaders(),
      'content-type': acc.table ? TABLE_CT : 'application/json',
      ...(req.httpVersionMajor === 1 ? { 'transfer-encoding': 'chunked' } : {}),
    });
    (res as ServerResponse).flushHeaders?.();
    streams++;
    let closed = false;
    let first = true;
    const encode = (type: string, obj: KObj) => {
      let o = obj;
      if (type !== 'ERROR' && type !== 'BOOKMARK') {
        if (acc.table) {
          o = toTable(r, [obj], { resourceVersion: obj.metadata.resourceVersion }, include, first);
          first = false;
        } else if (acc.partial) o = { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
      }
      return `${JSON.stringify({ type, object: o })}\n`;
    };
    const write = (type: string, obj: KObj) => {
      if (!closed) (res as ServerResponse).write(encode(type, obj));
    };
    const w: Watcher = { rkey: rkeyOf(r), ns: rt.ns || undefined, filter, send: (ev: StoreEvent) => write(ev.type, ev.obj) };
    let timer: NodeJS.Timeout | undefined;
    const cleanup = () => {
      if (closed) return;
      closed = true;
      streams--;
      store.watchers.delete(w);
      streamClosers.delete(end);
      if (timer) clearTimeout(timer);
    };
    const end = () => {
      cleanup();
      res.end();
    };
    res.on('close', cleanup);
    req.on('close', cleanup);
    streamClosers.add(end);

    const bookmark = (initialEnd: boolean) => ({
      kind: r.kind, apiVersion: apiVersionOf(r),
      metadata: { resourceVersion: String(store.rv), ...(initialEnd ? { annotations: { 'k8s.io/initial-events-end': 'true' } } : {}) },
    });

    if (sendInitial || !rvParam || rvParam === '0') {
      for (const o of store.list(r, rt.ns || undefined)) if (filter(o)) write('ADDED', o);
      if (sendInitial) write('BOOKMARK', bookmark(true));
    } else {
      const n = Number(rvParam);
      if (!Number.isFinite(n)) {
        write('ERROR', statusObj(400, 'BadRequest', `invalid resource version: ${rvParam}`));
        return end();
      }
      const evs = store.since(rkeyOf(r), n, rt.ns || undefined);
      if (evs === 'expired') {
        write('ERROR', statusObj(410, 'Expired', `too old resource version: ${n} (${store.rv})`));
        return end();
      }
      for (const ev of evs) if (filter(ev.obj)) write(ev.type, ev.obj);
    }
    store.watchers.add(w);
    if (timeoutSec > 0) timer = setTimeout(end, timeoutSec * 1000);
  }

  // ------------------------------------------------------------ logs
  function podLogs(req: AnyReq, res: AnyRes, rec: RecordedRequest, rt: Route, params: URLSearchParams): void {
    const pod = store.get(PODS, rt.ns, rt.name);
    if (!pod) throw notFound(PODS, rt.name);
    const containers: string[] = (pod.spec?.containers ?? []).map((c: KObj) => c.name);
    let container = params.get('container');
    if (!container) {
      if (containers.length !== 1) {
        throw new ApiError(400, 'BadRequest', `a container name must be specified for pod ${rt.name}, choose one of: [${containers.join(' ')}]`);
      }
      container = containers[0]!;
    }
    if (!containers.includes(container)) throw new ApiError(400, 'BadRequest', `container ${container} is not valid for pod ${rt.name}`);
    if (pod.status?.phase === 'Pending') {
      throw new ApiError(400, 'BadRequest', `container "${container}" in pod "${rt.name}" is waiting to start: ContainerCreating`);
    }
    if (isTruthy(params.get('previous'))) {
      throw new ApiError(400, 'BadRequest', `previous terminated container "${container}" in pod "${rt.name}" not found`);
    }
    const ls = logState(rt.ns, rt.name);
    const ts = isTruthy(params.get('timestamps'));
    const fmt = (l: { ts: string; text: string }) => `${ts ? `${l.ts} ` : ''}${l.text}\n`;
    let lines = ls.lines;
    const tail = params.get('tailLines');
    if (tail !== null && Number(tail) >= 0) lines = lines.slice(Math.max(0, lines.length - Number(tail)));
    const sinceSec = Number(params.get('sinceSeconds') ?? 0);
    if (sinceSec > 0) {
      const cutoff = Date.now() - sinceSec * 1000;
      lines = lines.filter((l) => Date.parse(l.ts) >= cutoff);
    }
    let text = lines.map(fmt).join('');
    const limitBytes = Number(params.get('limitBytes') ?? 0);
    if (!isTruthy(params.get('follow'))) {
      if (limitBytes > 0) text = Buffer.from(text).subarray(0, limitBytes).toString('utf8');
      rec.status = 200;
      (res as ServerResponse).writeHead(200, { ...baseHeaders(), 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    rec.status = 200;
    (res as ServerResponse).writeHead(200, {
      ...baseHeaders(),
      'content-type': 'text/plain',
      ...(req.httpVersionMajor === 1 ? { 'transfer-encoding': 'chunked' } : {}),
    });
    (res as ServerResponse).flushHeaders?.();
    if (text) (res as ServerResponse).write(text);
    streams++;
    let closed = false;
    const follower = (l: { ts: string; text: string }) => {
      if (closed) return;
      if (l.text === '\0EOF') return end();
      (res as ServerResponse).write(fmt(l));
    };
    const cleanup = () => {
      if (closed) return;
      closed = true;
      streams--;
      ls.followers.delete(follower);
      streamClosers.delete(end);
      if (!ls.followers.size && ls.timer) {
        clearInterval(ls.timer);
        ls.timer = undefined;
      }
    };
    const end = () => {
      cleanup();
      res.end();
    };
    ls.followers.add(follower);
    streamClosers.add(end);
    res.on('close', cleanup);
    req.on('close', cleanup);
    if (logIntervalMs > 0 && !ls.timer) {
      ls.timer = setInterval(() => appendLog(rt.ns, rt.name, `${rt.name} log line ${++ls.counter}`), logIntervalMs);
    }
  }

  // ------------------------------------------------------------ upgrades (HTTP/1.1)
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    handleProtocols: (protocols: Set<string>, request: IncomingMessage) => {
      const allowed = (request as IncomingMessage & { _allowedProtocols?: string[] })._allowedProtocols ?? CHANNEL_PROTOCOLS;
      for (const p of protocols) {
        const real = unmaskProtocol(p);
        if (allowed.includes(real)) return real;
      }
      return false;
    },
  });

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const url = req.url ?? '/';
    const qi = url.indexOf('?');
    const p = qi >= 0 ? url.slice(0, qi) : url;
    const rawQuery = qi >= 0 ? url.slice(qi + 1) : '';
    const { params, obj: queryObj } = parseQuery(rawQuery);
    const { user: authUser, method: authMethod } = authenticate(socket as TLSSocket, req.headers);
    const imp = parseImpersonation(req.rawHeaders);
    const rec: RecordedRequest = {
      seq: ++seq, time: Date.now(), method: req.method ?? 'GET', path: p, rawQuery, query: queryObj,
      headers: { ...req.headers }, rawHeaders: req.rawHeaders, httpVersion: req.httpVersion, upgrade: true,
      authUser, authMethod, user: null, impersonation: imp,
    };
    record(rec);
    const fail = (e: ApiError) => {
      rec.status = e.code;
      rawError(socket, e);
    };
    try {
      if (!authUser) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
      const user = effectiveUser(authUser, imp);
      rec.user = user;
      const upgradeHdr = String(req.headers.upgrade ?? '').toLowerCase();

      if (p === '/echo-upgrade') return rawEcho(req, socket, head, rec);

      const segs = p.split('/').filter(Boolean);
      const rt = parseResourcePath(segs);
      if (!rt || rt === 'discovery' || rt.r.resource !== 'pods' || !['exec', 'attach', 'portforward'].includes(rt.sub) || !rt.name) {
        throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      }
      authorizeOrThrow(user, req.method === 'GET' ? 'get' : 'create', rt, p);
      const pod = store.get(PODS, rt.ns, rt.name);
      if (!pod) throw notFound(PODS, rt.name);

      if (upgradeHdr !== 'websocket') {
        if (rt.sub === 'portforward' && upgradeHdr.startsWith('spdy/')) {
          const versions = req.headers['x-stream-protocol-version'];
          const vlist = (Array.isArray(versions) ? versions : [versions ?? '']).flatMap((v) => v.split(',')).map((v) => v.trim());
          if (vlist.includes('portforward.k8s.io')) return spdyPortForward(req, socket, head, rec, rt.ns, rt.name);
          return rawEcho(req, socket, head, rec);
        }
        throw new ApiError(400, 'BadRequest', `unable to upgrade connection: the fake apiserver supports only WebSocket upgrades for ${rt.sub} (got Upgrade: ${req.headers.upgrade ?? ''})`);
      }
      if (pod.status?.phase !== 'Running') {
        throw new ApiError(400, 'BadRequest', `unable to upgrade connection: container not found ("${pod.spec?.containers?.[0]?.name ?? ''}")`);
      }
      const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
      const allowed = rt.sub === 'portforward' ? ['SPDY/3.1+portforward.k8s.io', 'v4.channel.k8s.io', 'channel.k8s.io'] : CHANNEL_PROTOCOLS;
      (req as IncomingMessage & { _allowedProtocols?: string[] })._allowedProtocols = allowed;
      // `ws` rejects subprotocols that are not RFC 7230 tokens ("SPDY/3.1+portforward.k8s.io"
      // contains '/'); hand it a token-safe alias and answer with the real name.
      if (req.headers['sec-websocket-protocol']) req.headers['sec-websocket-protocol'] = offered.map(maskProtocol).join(', ');
      const chosen = offered.find((o) => allowed.includes(o));
      if (offered.length && !chosen) {
        throw new ApiError(400, 'BadRequest', `unable to upgrade connection: unable to match protocol: offered ${JSON.stringify(offered)}, supported ${JSON.stringify(allowed)}`);
      }

      const containers: KObj[] = pod.spec?.containers ?? [];
      let cname = params.get('container');
      if (rt.sub !== 'portforward') {
        if (!cname) {
          if (containers.length !== 1) throw new ApiError(400, 'BadRequest', `a container name must be specified for pod ${rt.name}, choose one of: [${containers.map((c) => c.name).join(' ')}]`);
          cname = containers[0]!.name;
        }
        if (!containers.some((c) => c.name === cname)) throw new ApiError(400, 'BadRequest', `container ${cname} is not valid for pod ${rt.name}`);
      }
      const command = params.getAll('command');
      if (rt.sub === 'exec' && !command.length) throw new ApiError(400, 'BadRequest', 'you must specify at least 1 command');

      wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
        rec.status = 101;
        const protocol = ws.protocol || 'channel.k8s.io';
        if (rt.sub === 'portforward') {
          if (ws.protocol === 'SPDY/3.1+portforward.k8s.io') return spdyOverWs(ws, rt.ns, rt.name);
          return portForwardWs(ws, params, rt.ns, rt.name);
        }
        const container = containers.find((c) => c.name === cname)!;
        const info: ChannelSessionInfo = {
          kind: rt.sub as 'exec' | 'attach', namespace: rt.ns, pod: rt.name, container: cname!, command, protocol,
          tty: isTruthy(params.get('tty')), stdin: isTruthy(params.get('stdin')), stdinBytes: 0, resizes: [], closed: false,
        };
        execSessions.push(info);
        streams++;
        let counted = true;
        const done = () => {
          if (counted) {
            counted = false;
            streams--;
          }
          streamClosers.delete(closeWs);
        };
        const closeWs = () => {
          ws.terminate();
          done();
        };
        streamClosers.add(closeWs);
        let fsForPod = podFs.get(pod.metadata.uid);
        if (!fsForPod) podFs.set(pod.metadata.uid, (fsForPod = new PodFs(path.join(fsBase, pod.metadata.uid), rt.name)));
        const env: Record<string, string> = {
          PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
          HOSTNAME: rt.name,
          ...(info.tty ? { TERM: 'xterm' } : {}),
          KUBERNETES_SERVICE_HOST: '10.96.0.1',
          KUBERNETES_SERVICE_PORT: '443',
          HOME: '/root',
        };
        for (const e of container.env ?? []) if (e?.name && e.value !== undefined) env[e.name] = String(e.value);
        runChannelSession({
          ws, info,
          stdout: params.get('stdout') === null ? true : isTruthy(params.get('stdout')),
          stderr: isTruthy(params.get('stderr')),
          ctxBase: { fs: fsForPod, env, cwd: '/', tty: info.tty },
          attachSource: (write) => {
            const k = `${rt.ns}/${rt.name}`;
            let set = attachSubs.get(k);
            if (!set) attachSubs.set(k, (set = new Set()));
            set.add(write);
            return () => set!.delete(write);
          },
          onDone: done,
        });
      });
    } catch (e) {
      if (e instanceof ApiError) fail(e);
      else fail(new ApiError(500, 'InternalError', String((e as Error)?.message ?? e)));
    }
  }

  function rawEcho(req: IncomingMessage, socket: Duplex, head: Buffer, rec: RecordedRequest): void {
    rec.status = 101;
    const proto = req.headers.upgrade ?? 'SPDY/3.1';
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${proto}\r\n\r\n`);
    if (head?.length) socket.write(head);
    streams++;
    let counted = true;
    const done = () => {
      if (!counted) return;
      counted = false;
      streams--;
      streamClosers.delete(close);
    };
    const close = () => {
      socket.destroy();
      done();
    };
    streamClosers.add(close);
    socket.on('data', (d: Buffer) => socket.write(d));
    socket.on('end', () => socket.end());
    socket.on('close', done);
  }

  function connectPort(namespace: string, pod: string, port: number): Duplex | null {
    if (opts.portForward) return opts.portForward({ namespace, pod, port });
    return new PassThrough(); // echo
  }

  function trackStream(info: PortForwardInfo, close: () => void): () => void {
    streams++;
    let counted = true;
    streamClosers.add(close);
    return () => {
      if (!counted) return;
      counted = false;
      info.closed = true;
      streams--;
      streamClosers.delete(close);
    };
  }

  function spdyPortForward(req: IncomingMessage, socket: Duplex, head: Buffer, rec: RecordedRequest, ns: string, pod: string): void {
    rec.status = 101;
    socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n');
    const info: PortForwardInfo = { namespace: ns, pod, transport: 'spdy', forwarded: [], closed: false };
    portForwards.push(info);
    const session: SpdyPortForwardSession = new SpdyPortForwardSession(
      { write: (b) => socket.write(b), close: () => socket.destroy() },
      (port) => connectPort(ns, pod, port),
      () => done(),
    );
    info.forwarded = session.forwarded;
    const done = trackStream(info, () => session.close());
    socket.on('data', (d: Buffer) => session.push(d));
    socket.on('close', () => session.close());
    if (head?.length) session.push(head);
  }

  function spdyOverWs(ws: WebSocket, ns: string, pod: string): void {
    const info: PortForwardInfo = { namespace: ns, pod, transport: 'spdy-over-websocket', forwarded: [], closed: false };
    portForwards.push(info);
    const session: SpdyPortForwardSession = new SpdyPortForwardSession(
      { write: (b) => ws.readyState === ws.OPEN && ws.send(b, { binary: true }), close: () => ws.terminate() },
      (port) => connectPort(ns, pod, port),
      () => done(),
    );
    info.forwarded = session.forwarded;
    const done = trackStream(info, () => session.close());
    ws.on('message', (raw: Buffer, isBinary: boolean) => {
      if (isBinary) session.push(Buffer.isBuffer(raw) ? raw : Buffer.from(raw));
    });
    ws.on('close', () => session.close());
    ws.on('error', () => session.close());
  }

  /** Legacy WebSocket port-forward (v4.channel.k8s.io): each port is an echo server (or portForward target). */
  function portForwardWs(ws: WebSocket, params: URLSearchParams, ns: string, pod: string): void {
    const ports = params.getAll('ports').flatMap((s) => s.split(',')).map((s) => Number(s.trim())).filter((n) => n > 0);
    const info: PortForwardInfo = { namespace: ns, pod, transport: 'websocket', forwarded: [], closed: false };
    portForwards.push(info);
    const targets = ports.map((port, i) => {
      const t = connectPort(ns, pod, port);
      const fw = { port, requestId: String(i), bytes: 0 };
      info.forwarded.push(fw);
      t?.on('data', (d: Buffer) => {
        fw.bytes += d.length;
        if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([i * 2]), d]), { binary: true });
      });
      t?.on('error', () => {});
      return t;
    });
    info.closed = false;
    streams++;
    let counted = true;
    const done = () => {
      if (!counted) return;
      counted = false;
      info.closed = true;
      streams--;
      streamClosers.delete(close);
      for (const t of targets) t?.destroy();
    };
    const close = () => {
      ws.terminate();
      done();
    };
    streamClosers.add(close);
    ports.forEach((port, i) => {
      const pb = Buffer.from([port & 0xff, (port >> 8) & 0xff]);
      ws.send(Buffer.concat([Buffer.from([i * 2]), pb]));
      ws.send(Buffer.concat([Buffer.from([i * 2 + 1]), pb]));
    });
    ws.on('message', (raw: Buffer, isBinary: boolean) => {
      if (!isBinary || !raw.length) return;
      const ch = raw[0]!;
      if (ch % 2 === 0 && ch / 2 < ports.length) targets[ch / 2]?.write(raw.subarray(1));
    });
    ws.on('close', done);
    ws.on('error', done);
  }

  // ------------------------------------------------------------ start
  const server = http2.createSecureServer({
    allowHTTP1: true,
    key: tls.serverKeyPem,
    cert: tls.serverCertPem,
    ca: opts.clientCaPem ? [caPem, opts.clientCaPem] : caPem,
    requestCert: true,
    rejectUnauthorized: false,
    settings: { maxConcurrentStreams: 1000 },
  });
  // HTTP/1.1 keep-alive defaults for the allowHTTP1 path
  const s1 = server as unknown as { keepAliveTimeout?: number; headersTimeout?: number; requestTimeout?: number };
  s1.keepAliveTimeout = 65_000;
  s1.headersTimeout = 66_000;
  s1.requestTimeout = 0;
  server.on('secureConnection', (sock: TLSSocket) => {
    sockets.add(sock);
    sock.setNoDelay(true);
    sock.on('close', () => sockets.delete(sock));
  });
  server.on('request', (req: AnyReq, res: AnyRes) => {
    void handle(req, res);
  });
  server.on('upgrade', onUpgrade);
  server.on('sessionError', () => {});
  server.on('tlsClientError', () => {});

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as { port: number }).port;
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;

  function kubeconfig(k: KubeconfigOptions = {}): string {
    const ctx = k.context ?? 'fake';
    const cluster = k.cluster ?? ctx;
    const userName = k.user ?? `${ctx}-user`;
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const useToken = k.auth === 'token' || (k.token !== undefined && !k.clientCertPem) || (!k.clientCertPem && !clientCertPem);
    const userEntry: KObj = useToken
      ? { token: k.token ?? token }
      : { 'client-certificate-data': b64(k.clientCertPem ?? clientCertPem!), 'client-key-data': b64(k.clientKeyPem ?? clientKeyPem!) };
    return YAML.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: cluster, cluster: { server: k.server ?? url, 'certificate-authority-data': b64(caPem) } }],
      users: [{ name: userName, user: userEntry }],
      contexts: [{ name: ctx, context: { cluster, user: userName, namespace: k.namespace ?? 'default' } }],
      'current-context': ctx,
      preferences: {},
    });
  }

  let closedAll = false;
  const api: FakeApiServer = {
    url,
    port,
    caPem,
    clientCertPem: clientCertPem ?? '',
    clientKeyPem: clientKeyPem ?? '',
    token,
    requests,
    execSessions,
    portForwards,
    lastImpersonation(filter) {
      for (let i = requests.length - 1; i >= 0; i--) {
        const r = requests[i]!;
        if (!filter || filter(r)) return r.impersonation;
      }
      return null;
    },
    clearRequests() {
      requests.length = 0;
    },
    emitLog(namespace, pod, line) {
      appendLog(namespace, pod, line);
    },
    openStreams() {
      return streams;
    },
    kubeconfig,
    async writeKubeconfig(file, k) {
      await fsp.mkdir(path.dirname(file), { recursive: true });
      await fsp.writeFile(file, kubeconfig(k), { mode: 0o600 });
      await fsp.chmod(file, 0o600);
      return file;
    },
    getObject(apiVersion, resource, namespace, name) {
      const [g, v] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
      const r = findResource(g!, v!, resource);
      return r ? store.get(r, namespace, name) : undefined;
    },
    putObject(obj) {
      const [g, v] = String(obj.apiVersion ?? 'v1').includes('/') ? String(obj.apiVersion).split('/') : ['', String(obj.apiVersion ?? 'v1')];
      const r = RESOURCES.find((x) => x.group === g && x.version === v && x.kind === obj.kind);
      if (!r) throw new Error(`unknown kind ${obj.apiVersion} ${obj.kind}`);
      const ns = r.namespaced ? obj.metadata?.namespace ?? 'default' : '';
      const cur = store.get(r, ns, obj.metadata?.name);
      if (cur) {
        const next = clone(obj);
        delete next.metadata.resourceVersion;
        return finishUpdate(r, cur, next, '', false);
      }
      return createObject(r, ns, obj, false);
    },
    deleteObject(apiVersion, resource, namespace, name) {
      const [g, v] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
      const r = findResource(g!, v!, resource);
      if (!r || !store.get(r, namespace, name)) return false;
      deleteObject(r, namespace, name, {}, false);
      return true;
    },
    resourceVersion() {
      return String(store.rv);
    },
    async close() {
      if (closedAll) return;
      closedAll = true;
      for (const t of podTimers) clearTimeout(t);
      for (const s of logs.values()) if (s.timer) clearInterval(s.timer);
      for (const c of [...streamClosers]) {
        try {
          c();
        } catch {
          /* ignore */
        }
      }
      wss.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
      rmSync(fsBase, { recursive: true, force: true });
    },
  };
  return api;
}
