/**
 * Decoder for the Kubernetes protobuf wire format ("k8s\0" + runtime.Unknown envelope),
 * covering the objects kubectl's typed clients send (kubectl create configmap|secret|
 * namespace|serviceaccount|service|deployment, auth whoami / can-i). Responses are always
 * JSON (clients list application/json as an alternative in Accept).
 */

type FieldType =
  | 'string' | 'bytes' | 'int32' | 'int64' | 'bool' | 'time' | 'intstr' | 'quantity'
  | { msg: string } | { map: 'string' | 'bytes' | 'quantity' };

interface Field {
  name: string;
  type: FieldType;
  repeated?: boolean;
  /** pointer field in Go: keep zero values */
  ptr?: boolean;
}

type Schema = Record<number, Field>;

const f = (name: string, type: FieldType, extra: Partial<Field> = {}): Field => ({ name, type, ...extra });
const msg = (m: string): FieldType => ({ msg: m });
const rep = { repeated: true };
const ptr = { ptr: true };

const SCHEMAS: Record<string, Schema> = {
  ObjectMeta: {
    1: f('name', 'string'), 2: f('generateName', 'string'), 3: f('namespace', 'string'), 4: f('selfLink', 'string'),
    5: f('uid', 'string'), 6: f('resourceVersion', 'string'), 7: f('generation', 'int64'), 8: f('creationTimestamp', 'time'),
    9: f('deletionTimestamp', 'time'), 10: f('deletionGracePeriodSeconds', 'int64', ptr), 11: f('labels', { map: 'string' }),
    12: f('annotations', { map: 'string' }), 13: f('ownerReferences', msg('OwnerReference'), rep), 14: f('finalizers', 'string', rep),
  },
  OwnerReference: {
    1: f('kind', 'string'), 3: f('name', 'string'), 4: f('uid', 'string'), 5: f('apiVersion', 'string'),
    6: f('controller', 'bool', ptr), 7: f('blockOwnerDeletion', 'bool', ptr),
  },
  ObjectReference: {
    1: f('kind', 'string'), 2: f('namespace', 'string'), 3: f('name', 'string'), 4: f('uid', 'string'),
    5: f('apiVersion', 'string'), 6: f('resourceVersion', 'string'), 7: f('fieldPath', 'string'),
  },
  LocalObjectReference: { 1: f('name', 'string') },
  ConfigMap: { 1: f('metadata', msg('ObjectMeta')), 2: f('data', { map: 'string' }), 3: f('binaryData', { map: 'bytes' }), 4: f('immutable', 'bool', ptr) },
  Secret: {
    1: f('metadata', msg('ObjectMeta')), 2: f('data', { map: 'bytes' }), 3: f('type', 'string'), 4: f('stringData', { map: 'string' }),
    5: f('immutable', 'bool', ptr),
  },
  Namespace: { 1: f('metadata', msg('ObjectMeta')), 2: f('spec', msg('NamespaceSpec')), 3: f('status', msg('NamespaceStatus')) },
  NamespaceSpec: { 1: f('finalizers', 'string', rep) },
  NamespaceStatus: { 1: f('phase', 'string') },
  ServiceAccount: {
    1: f('metadata', msg('ObjectMeta')), 2: f('secrets', msg('ObjectReference'), rep), 3: f('imagePullSecrets', msg('LocalObjectReference'), rep),
    4: f('automountServiceAccountToken', 'bool', ptr),
  },
  Service: { 1: f('metadata', msg('ObjectMeta')), 2: f('spec', msg('ServiceSpec')), 3: f('status', msg('ServiceStatus')) },
  ServiceSpec: {
    1: f('ports', msg('ServicePort'), rep), 2: f('selector', { map: 'string' }), 3: f('clusterIP', 'string'), 4: f('type', 'string'),
    5: f('externalIPs', 'string', rep), 7: f('sessionAffinity', 'string'), 8: f('loadBalancerIP', 'string'),
    9: f('loadBalancerSourceRanges', 'string', rep), 10: f('externalName', 'string'), 11: f('externalTrafficPolicy', 'string'),
    12: f('healthCheckNodePort', 'int32'), 13: f('publishNotReadyAddresses', 'bool'),
    17: f('ipFamilyPolicy', 'string'), 18: f('clusterIPs', 'string', rep), 19: f('ipFamilies', 'string', rep),
    20: f('allocateLoadBalancerNodePorts', 'bool', ptr), 21: f('loadBalancerClass', 'string'), 22: f('internalTrafficPolicy', 'string'),
  },
  ServicePort: {
    1: f('name', 'string'), 2: f('protocol', 'string'), 3: f('port', 'int32'), 4: f('targetPort', 'intstr'), 5: f('nodePort', 'int32'),
    6: f('appProtocol', 'string'),
  },
  ServiceStatus: { 1: f('loadBalancer', msg('Empty')) },
  Empty: {},
  Deployment: { 1: f('metadata', msg('ObjectMeta')), 2: f('spec', msg('DeploymentSpec')), 3: f('status', msg('Empty')) },
  DeploymentSpec: {
    1: f('replicas', 'int32', ptr), 2: f('selector', msg('LabelSelector')), 3: f('template', msg('PodTemplateSpec')),
    4: f('strategy', msg('DeploymentStrategy')), 5: f('minReadySeconds', 'int32'), 6: f('revisionHistoryLimit', 'int32', ptr),
    7: f('paused', 'bool'), 9: f('progressDeadlineSeconds', 'int32', ptr),
  },
  DeploymentStrategy: { 1: f('type', 'string'), 2: f('rollingUpdate', msg('RollingUpdateDeployment')) },
  RollingUpdateDeployment: { 1: f('maxUnavailable', 'intstr'), 2: f('maxSurge', 'intstr') },
  LabelSelector: { 1: f('matchLabels', { map: 'string' }), 2: f('matchExpressions', msg('LabelSelectorRequirement'), rep) },
  LabelSelectorRequirement: { 1: f('key', 'string'), 2: f('operator', 'string'), 3: f('values', 'string', rep) },
  PodTemplateSpec: { 1: f('metadata', msg('ObjectMeta')), 2: f('spec', msg('PodSpec')) },
  PodSpec: {
    2: f('containers', msg('Container'), rep), 3: f('restartPolicy', 'string'), 4: f('terminationGracePeriodSeconds', 'int64', ptr),
    5: f('activeDeadlineSeconds', 'int64', ptr), 6: f('dnsPolicy', 'string'), 7: f('nodeSelector', { map: 'string' }),
    8: f('serviceAccountName', 'string'), 9: f('serviceAccount', 'string'), 10: f('nodeName', 'string'), 11: f('hostNetwork', 'bool'),
    12: f('hostPID', 'bool'), 13: f('hostIPC', 'bool'), 24: f('priorityClassName', 'string'),
    15: f('imagePullSecrets', msg('LocalObjectReference'), rep), 16: f('hostname', 'string'), 17: f('subdomain', 'string'),
    19: f('schedulerName', 'string'), 20: f('initContainers', msg('Container'), rep),
  },
  Container: {
    1: f('name', 'string'), 2: f('image', 'string'), 3: f('command', 'string', rep), 4: f('args', 'string', rep), 5: f('workingDir', 'string'),
    6: f('ports', msg('ContainerPort'), rep), 7: f('env', msg('EnvVar'), rep), 8: f('resources', msg('ResourceRequirements')),
    9: f('volumeMounts', msg('VolumeMount'), rep), 13: f('terminationMessagePath', 'string'), 14: f('imagePullPolicy', 'string'),
    16: f('stdin', 'bool'), 17: f('stdinOnce', 'bool'), 18: f('tty', 'bool'), 20: f('terminationMessagePolicy', 'string'),
  },
  ContainerPort: { 1: f('name', 'string'), 2: f('hostPort', 'int32'), 3: f('containerPort', 'int32'), 4: f('protocol', 'string'), 5: f('hostIP', 'string') },
  EnvVar: { 1: f('name', 'string'), 2: f('value', 'string') },
  ResourceRequirements: { 1: f('limits', { map: 'quantity' }), 2: f('requests', { map: 'quantity' }) },
  VolumeMount: { 1: f('name', 'string'), 2: f('readOnly', 'bool'), 3: f('mountPath', 'string'), 4: f('subPath', 'string') },
  SelfSubjectReview: { 1: f('metadata', msg('ObjectMeta')), 2: f('status', msg('Empty')) },
  SelfSubjectAccessReview: { 1: f('metadata', msg('ObjectMeta')), 2: f('spec', msg('SelfSubjectAccessReviewSpec')), 3: f('status', msg('Empty')) },
  SelfSubjectAccessReviewSpec: { 1: f('resourceAttributes', msg('ResourceAttributes')), 2: f('nonResourceAttributes', msg('NonResourceAttributes')) },
  ResourceAttributes: {
    1: f('namespace', 'string'), 2: f('verb', 'string'), 3: f('group', 'string'), 4: f('version', 'string'), 5: f('resource', 'string'),
    6: f('subresource', 'string'), 7: f('name', 'string'),
  },
  NonResourceAttributes: { 1: f('path', 'string'), 2: f('verb', 'string') },
  SelfSubjectRulesReview: { 1: f('metadata', msg('ObjectMeta')), 2: f('spec', msg('SelfSubjectRulesReviewSpec')), 3: f('status', msg('Empty')) },
  SelfSubjectRulesReviewSpec: { 1: f('namespace', 'string') },
  TokenReview: { 1: f('metadata', msg('ObjectMeta')), 2: f('spec', msg('TokenReviewSpec')), 3: f('status', msg('Empty')) },
  TokenReviewSpec: { 1: f('token', 'string'), 2: f('audiences', 'string', rep) },
  // runtime.Unknown envelope
  Unknown: { 1: f('typeMeta', msg('TypeMeta')), 2: f('raw', 'bytes'), 3: f('contentEncoding', 'string'), 4: f('contentType', 'string') },
  TypeMeta: { 1: f('apiVersion', 'string'), 2: f('kind', 'string') },
  Time: { 1: f('seconds', 'int64'), 2: f('nanos', 'int32') },
  IntOrString: { 1: f('type', 'int64'), 2: f('intVal', 'int32'), 3: f('strVal', 'string') },
  Quantity: { 1: f('string', 'string') },
};

// ---------------------------------------------------------------- wire format

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  get done() {
    return this.pos >= this.buf.length;
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return result;
      shift += 7n;
    }
  }
  bytes(): Buffer {
    const n = Number(this.varint());
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  skip(wt: number): void {
    if (wt === 0) this.varint();
    else if (wt === 1) this.pos += 8;
    else if (wt === 2) this.bytes();
    else if (wt === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wt}`);
  }
}

function toInt(v: bigint, bits: 32 | 64): number {
  return Number(BigInt.asIntN(bits, v));
}

export class ProtoError extends Error {}

function decodeMessage(buf: Buffer, schemaName: string, unknown: string[], pathPrefix: string): Record<string, any> {
  const schema = SCHEMAS[schemaName];
  if (!schema) throw new ProtoError(`no schema for ${schemaName}`);
  const r = new Reader(buf);
  const out: Record<string, any> = {};
  while (!r.done) {
    const key = r.varint();
    const fieldNo = Number(key >> 3n);
    const wt = Number(key & 7n);
    const fd = schema[fieldNo];
    if (!fd) {
      if (schemaName !== 'Empty') unknown.push(`${pathPrefix}${schemaName}#${fieldNo}`);
      r.skip(wt);
      continue;
    }
    let value: any;
    const t = fd.type;
    if (typeof t === 'string') {
      switch (t) {
        case 'string':
          value = r.bytes().toString('utf8');
          break;
        case 'bytes':
          value = r.bytes().toString('base64');
          break;
        case 'int32':
          value = toInt(r.varint(), 32);
          break;
        case 'int64':
          value = toInt(r.varint(), 64);
          break;
        case 'bool':
          value = r.varint() !== 0n;
          break;
        case 'time': {
          const tm = decodeMessage(r.bytes(), 'Time', unknown, pathPrefix);
          value = tm.seconds ? new Date(tm.seconds * 1000).toISOString().replace(/\.\d+Z$/, 'Z') : null;
          break;
        }
        case 'intstr': {
          const is = decodeMessage(r.bytes(), 'IntOrString', unknown, pathPrefix);
          value = is.type === 1 ? is.strVal ?? '' : is.intVal ?? 0;
          break;
        }
        case 'quantity':
          value = decodeMessage(r.bytes(), 'Quantity', unknown, pathPrefix).string ?? '0';
          break;
      }
    } else if ('msg' in t) {
      value = decodeMessage(r.bytes(), t.msg, unknown, `${pathPrefix}${fd.name}.`);
    } else {
      // map entry: key=1 (string), value=2
      const er = new Reader(r.bytes());
      let k = '';
      let v: any = t.map === 'bytes' ? '' : t.map === 'quantity' ? '0' : '';
      while (!er.done) {
        const ek = er.varint();
        const en = Number(ek >> 3n);
        if (en === 1) k = er.bytes().toString('utf8');
        else if (en === 2) {
          const b = er.bytes();
          v = t.map === 'string' ? b.toString('utf8') : t.map === 'bytes' ? b.toString('base64') : decodeMessage(b, 'Quantity', unknown, pathPrefix).string ?? '0';
        } else er.skip(Number(ek & 7n));
      }
      (out[fd.name] ??= {})[k] = v;
      continue;
    }
    if (fd.repeated) (out[fd.name] ??= []).push(value);
    else out[fd.name] = value;
  }
  // emulate JSON omitempty for non-pointer zero values
  for (const fd of Object.values(schema)) {
    const v = out[fd.name];
    if (v === undefined || fd.ptr) continue;
    if (v === '' || v === 0 || v === false || v === null) delete out[fd.name];
  }
  return out;
}

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** Decode a `application/vnd.kubernetes.protobuf` body into a JSON-like object. */
export function decodeK8sProtobuf(buf: Buffer): { obj: Record<string, any>; unknownFields: string[] } {
  if (buf.length < 4 || !buf.subarray(0, 4).equals(MAGIC)) throw new ProtoError('missing protobuf magic "k8s\\0"');
  const unknown: string[] = [];
  const env = decodeMessage(buf.subarray(4), 'Unknown', unknown, '');
  const kind: string = env.typeMeta?.kind ?? '';
  const apiVersion: string = env.typeMeta?.apiVersion ?? '';
  if (!SCHEMAS[kind] || ['Unknown', 'TypeMeta', 'Time', 'IntOrString', 'Quantity', 'Empty'].includes(kind)) {
    throw new ProtoError(`protobuf decoding of ${apiVersion} ${kind} is not supported by the fake apiserver`);
  }
  const raw = Buffer.from(env.raw ?? '', 'base64');
  const obj = decodeMessage(raw, kind, unknown, '');
  return { obj: { apiVersion, kind, ...obj }, unknownFields: unknown };
}

/** Debug helper: schema-less dump of field numbers. */
export function dumpProto(buf: Buffer, depth = 0): unknown {
  const r = new Reader(buf);
  const out: unknown[] = [];
  while (!r.done) {
    const key = r.varint();
    const no = Number(key >> 3n);
    const wt = Number(key & 7n);
    if (wt === 2) {
      const b = r.bytes();
      let inner: unknown = b.toString('utf8');
      if (depth < 8 && b.length && /[\x00-\x08\x0e-\x1f]/.test(b.toString('latin1'))) {
        try {
          inner = dumpProto(b, depth + 1);
        } catch {
          /* keep string */
        }
      }
      out.push([no, inner]);
    } else if (wt === 0) out.push([no, Number(r.varint())]);
    else {
      r.skip(wt);
      out.push([no, `wt${wt}`]);
    }
  }
  return out;
}
