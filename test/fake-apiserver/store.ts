/** In-memory object store with a global resourceVersion and watch fan-out. */
import { randomUUID } from 'node:crypto';
import type { ResourceDef } from './resources';
import { apiVersionOf } from './resources';
import { clone } from './patch';

export type KObj = Record<string, any>;
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface StoreEvent {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  rkey: string; // group/version/resource
  ns: string;
  obj: KObj;
}

export interface Watcher {
  rkey: string;
  ns?: string;
  filter: (o: KObj) => boolean;
  send: (ev: StoreEvent) => void;
}

export const rkeyOf = (r: { group: string; version: string; resource: string }) => `${r.group}/${r.version}/${r.resource}`;

export class Store {
  rv = 1000;
  /** rkey -> "ns/name" -> object */
  private data = new Map<string, Map<string, KObj>>();
  private history: StoreEvent[] = [];
  private maxHistory = 20000;
  watchers = new Set<Watcher>();

  private bucket(rkey: string): Map<string, KObj> {
    let b = this.data.get(rkey);
    if (!b) this.data.set(rkey, (b = new Map()));
    return b;
  }

  nextRv(): number {
    return ++this.rv;
  }

  get(r: ResourceDef, ns: string, name: string): KObj | undefined {
    return this.data.get(rkeyOf(r))?.get(`${r.namespaced ? ns : ''}/${name}`);
  }

  list(r: ResourceDef, ns?: string): KObj[] {
    const b = this.data.get(rkeyOf(r));
    if (!b) return [];
    const out: KObj[] = [];
    for (const o of b.values()) if (!ns || !r.namespaced || o.metadata.namespace === ns) out.push(o);
    out.sort((a, b) => {
      const an = `${a.metadata.namespace ?? ''}/${a.metadata.name}`;
      const bn = `${b.metadata.namespace ?? ''}/${b.metadata.name}`;
      return an < bn ? -1 : an > bn ? 1 : 0;
    });
    return out;
  }

  /** Store a new object (already validated); assigns uid/rv/timestamps. */
  create(r: ResourceDef, input: KObj, dryRun = false): KObj {
    // kind and apiVersion first, like the real serializer
    const { kind: _k, apiVersion: _a, ...rest } = input;
    const obj: KObj = { kind: r.kind, apiVersion: apiVersionOf(r), ...rest };
    const m = obj.metadata;
    m.uid ??= randomUUID();
    m.creationTimestamp ??= new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    if (m.generation === undefined && (r.resource === 'pods' || r.resource === 'deployments')) m.generation = 1;
    if (dryRun) {
      m.resourceVersion ??= String(this.rv);
      return obj;
    }
    m.resourceVersion = String(this.nextRv());
    this.bucket(rkeyOf(r)).set(`${r.namespaced ? m.namespace : ''}/${m.name}`, obj);
    this.emit({ rv: this.rv, type: 'ADDED', rkey: rkeyOf(r), ns: m.namespace ?? '', obj });
    return obj;
  }

  update(r: ResourceDef, input: KObj, dryRun = false): KObj {
    const { kind: _k, apiVersion: _a, ...rest } = input;
    const obj: KObj = { kind: r.kind, apiVersion: apiVersionOf(r), ...rest };
    if (dryRun) return obj;
    obj.metadata.resourceVersion = String(this.nextRv());
    this.bucket(rkeyOf(r)).set(`${r.namespaced ? obj.metadata.namespace : ''}/${obj.metadata.name}`, obj);
    this.emit({ rv: this.rv, type: 'MODIFIED', rkey: rkeyOf(r), ns: obj.metadata.namespace ?? '', obj });
    return obj;
  }

  delete(r: ResourceDef, ns: string, name: string, dryRun = false): KObj | undefined {
    const key = `${r.namespaced ? ns : ''}/${name}`;
    const b = this.bucket(rkeyOf(r));
    const cur = b.get(key);
    if (!cur) return undefined;
    if (dryRun) return cur;
    b.delete(key);
    const obj = clone(cur);
    obj.metadata.resourceVersion = String(this.nextRv());
    this.emit({ rv: this.rv, type: 'DELETED', rkey: rkeyOf(r), ns: obj.metadata.namespace ?? '', obj });
    return obj;
  }

  private emit(ev: StoreEvent): void {
    this.history.push(ev);
    if (this.history.length > this.maxHistory) this.history.splice(0, this.history.length - this.maxHistory);
    for (const w of this.watchers) {
      if (w.rkey !== ev.rkey) continue;
      if (w.ns && ev.ns !== w.ns) continue;
      if (!w.filter(ev.obj)) continue;
      w.send(ev);
    }
  }

  /** Events after `rv` for a resource, or 'expired' when the history no longer covers it. */
  since(rkey: string, rv: number, ns?: string): StoreEvent[] | 'expired' {
    if (rv >= this.rv) return [];
    const first = this.history[0];
    if (first && rv < first.rv - 1 && this.history.length >= this.maxHistory) return 'expired';
    const out: StoreEvent[] = [];
    for (const ev of this.history) {
      if (ev.rv <= rv || ev.rkey !== rkey) continue;
      if (ns && ev.ns !== ns) continue;
      out.push(ev);
    }
    return out;
  }
}

// ---------------------------------------------------------------- selectors

type LabelReq = (labels: Record<string, string>) => boolean;

function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur);
  return out.map((x) => x.trim()).filter(Boolean);
}

export class SelectorError extends Error {}

export function parseLabelSelector(sel: string | null): (o: KObj) => boolean {
  if (!sel) return () => true;
  const reqs: LabelReq[] = [];
  for (const part of splitTopLevel(sel)) {
    let m: RegExpExecArray | null;
    if ((m = /^([^\s!=<>]+)\s+(in|notin)\s+\((.*)\)$/.exec(part))) {
      const [, k, op, vals] = m;
      const set = new Set(vals!.split(',').map((v) => v.trim()));
      reqs.push(op === 'in' ? (l) => k! in l && set.has(l[k!]!) : (l) => !(k! in l) || !set.has(l[k!]!));
    } else if ((m = /^([^\s!=<>]+)\s*(==|=|!=)\s*(.*)$/.exec(part))) {
      const [, k, op, v] = m;
      reqs.push(op === '!=' ? (l) => l[k!] !== v : (l) => l[k!] === v);
    } else if ((m = /^!\s*([^\s!=<>]+)$/.exec(part))) {
      const k = m[1]!;
      reqs.push((l) => !(k in l));
    } else if ((m = /^([^\s!=<>]+)\s*(>|<)\s*(-?\d+)$/.exec(part))) {
      const [, k, op, v] = m;
      reqs.push((l) => k! in l && (op === '>' ? Number(l[k!]) > Number(v) : Number(l[k!]) < Number(v)));
    } else if (/^[^\s!=<>(),]+$/.test(part)) {
      reqs.push((l) => part in l);
    } else {
      throw new SelectorError(`unable to parse requirement: ${part}`);
    }
  }
  return (o) => {
    const l = o.metadata?.labels ?? {};
    return reqs.every((r) => r(l));
  };
}

function fieldValue(o: KObj, field: string): string | undefined {
  let cur: any = o;
  for (const seg of field.split('.')) {
    if (cur == null) return undefined;
    cur = cur[seg];
  }
  return cur == null ? '' : String(cur);
}

export function parseFieldSelector(sel: string | null): (o: KObj) => boolean {
  if (!sel) return () => true;
  const reqs: ((o: KObj) => boolean)[] = [];
  for (const part of splitTopLevel(sel)) {
    const m = /^([^!=]+?)\s*(==|=|!=)\s*(.*)$/.exec(part);
    if (!m) throw new SelectorError(`invalid selector: '${sel}'; can't understand '${part}'`);
    const [, f, op, v] = m;
    reqs.push(op === '!=' ? (o) => fieldValue(o, f!) !== v : (o) => fieldValue(o, f!) === v);
  }
  return (o) => reqs.every((r) => r(o));
}
