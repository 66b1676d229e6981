/** Patch flavours accepted by the fake API server. */

type J = any; // JSON value

const isObj = (v: unknown): v is Record<string, J> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function clone<T>(v: T): T {
  return v === undefined ? v : structuredClone(v);
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: J, patch: J): J {
  if (!isObj(patch)) return clone(patch);
  const out: Record<string, J> = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Merge keys of well-known list fields (subset of the Kubernetes patchMergeKey tags). */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  ports: 'containerPort',
  imagePullSecrets: 'name',
  conditions: 'type',
  ownerReferences: 'uid',
  tolerations: '',
  hostAliases: 'ip',
};

function smpList(field: string, target: J[], patch: J[]): J[] {
  // `ports` of a Service merge on `port`, of a container on `containerPort`.
  let key = MERGE_KEYS[field];
  if (field === 'ports' && patch.every((p) => isObj(p) && 'port' in p && !('containerPort' in p))) key = 'port';
  if (field === 'finalizers') {
    // set semantics for primitive lists with merge strategy
    const out = [...target];
    for (const p of patch) if (!out.includes(p)) out.push(p);
    return out;
  }
  if (!key || !patch.every((p) => isObj(p) && (p[key] !== undefined || p.$patch))) return clone(patch);
  if (patch.some((p) => isObj(p) && p.$patch === 'replace')) return patch.filter((p) => !(isObj(p) && p.$patch)).map(clone);
  const out = target.map(clone);
  for (const p of patch) {
    const idx = out.findIndex((t) => isObj(t) && t[key!] === p[key!]);
    if (p.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = strategicMergePatch(out[idx], p);
    else out.push(strategicMergePatch({}, p));
  }
  return out;
}

/**
 * Strategic merge patch, simplified: maps merge like JSON merge patch, lists with a known
 * merge key merge by that key, other lists are replaced; `$patch: delete|replace` and
 * `$deleteFromPrimitiveList/<field>` / `$setElementOrder/<field>` directives are honoured
 * or ignored harmlessly.
 */
export function strategicMergePatch(target: J, patch: J): J {
  if (!isObj(patch)) return clone(patch);
  if (patch.$patch === 'delete') return undefined;
  const base: Record<string, J> = isObj(target) ? { ...target } : {};
  if (patch.$patch === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return clone(rest);
  }
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys') continue;
    if (k.startsWith('$setElementOrder/')) continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const f = k.slice('$deleteFromPrimitiveList/'.length);
      if (Array.isArray(base[f]) && Array.isArray(v)) base[f] = base[f].filter((x: J) => !v.includes(x));
      continue;
    }
    if (v === null) {
      delete base[k];
    } else if (Array.isArray(v)) {
      base[k] = smpList(k, Array.isArray(base[k]) ? base[k] : [], v);
    } else if (isObj(v)) {
      const r = strategicMergePatch(base[k], v);
      if (r === undefined) delete base[k];
      else base[k] = r;
    } else {
      base[k] = v;
    }
  }
  return base;
}

function decodePointer(p: string): string[] {
  if (p === '') return [];
  if (!p.startsWith('/')) throw new Error(`invalid JSON pointer ${JSON.stringify(p)}`);
  return p
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function getAt(doc: J, path: string[]): J {
  let cur = doc;
  for (const seg of path) {
    if (Array.isArray(cur)) cur = cur[Number(seg)];
    else if (isObj(cur)) cur = cur[seg];
    else return undefined;
  }
  return cur;
}

function parentOf(doc: J, path: string[]): { parent: J; key: string } {
  if (!path.length) throw new Error('cannot operate on document root');
  const parent = getAt(doc, path.slice(0, -1));
  if (parent === undefined || parent === null || typeof parent !== 'object') {
    throw new Error(`doc is missing path: "/${path.join('/')}"`);
  }
  return { parent, key: path[path.length - 1]! };
}

function add(doc: J, path: string[], value: J): J {
  if (!path.length) return clone(value);
  const { parent, key } = parentOf(doc, path);
  if (Array.isArray(parent)) {
    const idx = key === '-' ? parent.length : Number(key);
    if (!Number.isInteger(idx) || idx < 0 || idx > parent.length) throw new Error(`invalid array index ${key}`);
    parent.splice(idx, 0, clone(value));
  } else parent[key] = clone(value);
  return doc;
}

function remove(doc: J, path: string[]): J {
  const { parent, key } = parentOf(doc, path);
  if (Array.isArray(parent)) {
    const idx = Number(key);
    if (!(idx >= 0 && idx < parent.length)) throw new Error(`unable to remove nonexistent key: ${key}`);
    parent.splice(idx, 1);
  } else {
    if (!(key in parent)) throw new Error(`unable to remove nonexistent key: ${key}: missing value`);
    delete parent[key];
  }
  return doc;
}

/** RFC 6902 JSON patch. Throws on failure. */
export function jsonPatch(target: J, ops: J): J {
  if (!Array.isArray(ops)) throw new Error('json patch must be an array');
  let doc = clone(target);
  for (const op of ops) {
    const path = decodePointer(op.path);
    switch (op.op) {
      case 'add':
        doc = add(doc, path, op.value);
        break;
      case 'remove':
        doc = remove(doc, path);
        break;
      case 'replace':
        if (path.length && getAt(doc, path) === undefined) throw new Error(`replace operation does not apply: doc is missing key: ${op.path}`);
        if (!path.length) doc = clone(op.value);
        else {
          const { parent, key } = parentOf(doc, path);
          parent[Array.isArray(parent) ? Number(key) : key] = clone(op.value);
        }
        break;
      case 'move': {
        const from = decodePointer(op.from);
        const v = getAt(doc, from);
        if (v === undefined) throw new Error(`move operation does not apply: doc is missing from path: ${op.from}`);
        doc = remove(doc, from);
        doc = add(doc, path, v);
        break;
      }
      case 'copy': {
        const v = getAt(doc, decodePointer(op.from));
        if (v === undefined) throw new Error(`copy operation does not apply: doc is missing from path: ${op.from}`);
        doc = add(doc, path, v);
        break;
      }
      case 'test':
        if (JSON.stringify(getAt(doc, path)) !== JSON.stringify(op.value)) throw new Error('testing value failed');
        break;
      default:
        throw new Error(`Unexpected kind: ${op.op}`);
    }
  }
  return doc;
}
