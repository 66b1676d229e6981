import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { KubeRefusal } from './status';

/** The Kubernetes identity the gate asserts upstream for one caller. */
export interface KubeImpersonation {
  user: string;
  groups: string[];
}

/**
 * Headers that say who the caller is to the API server. A client must never set them: the
 * gate's own credentials are allowed to impersonate, so a passed-through `Impersonate-User`
 * would be an escalation. `X-Remote-*` are the front-proxy headers, trusted upstream if the
 * gate's credentials ever were a request-header client certificate.
 */
const IDENTITY_HEADER = /^(?:impersonate-|x-remote-)/;

/** Hop-by-hop headers (RFC 9110 7.6.1) and the HTTP/2 ones that must not be forwarded as they are. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'host',
  'http2-settings',
  'authorization',
  'proxy-authorization',
  // Expect: 100-continue is answered hop by hop; undici refuses to send it
  'expect',
]);

/** The name of the first impersonation header a request carries, if any (names arrive lower-cased). */
export function impersonationHeaderIn(headers: IncomingHttpHeaders): string | undefined {
  for (const name in headers) {
    if (name.charCodeAt(0) === 105 /* i */ && name.startsWith('impersonate-')) return name;
  }
  return undefined;
}

export function impersonationRefusal(header: string, granted: KubeImpersonation): KubeRefusal {
  const display = header.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase());
  return new KubeRefusal(
    'Forbidden',
    `impersonation is not allowed through Tapgate (the request carried ${display}); your roles grant Kubernetes user "${granted.user}" ` +
      `with groups ${granted.groups.join(', ')}: drop --as/--as-group, or ask an administrator for a role with the access you need`,
    { status: 403, auditReason: `impersonation header ${header} refused`, code: 'impersonation_refused' },
  );
}

/**
 * The headers to send upstream: the client's, minus hop-by-hop, pseudo and identity headers,
 * plus the gate's own credentials and impersonation. `keep` retains `connection`/`upgrade`
 * for upgrade requests.
 */
export function upstreamHeaders(
  incoming: NodeJS.Dict<string | string[]>,
  as: KubeImpersonation,
  authorization: string | undefined,
  keep?: { upgrade: boolean },
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in incoming) {
    const c0 = name.charCodeAt(0);
    if (c0 === 58 /* : */) continue;
    // only names starting with i or x can be identity headers: skip the regex for the rest
    if ((c0 === 105 /* i */ || c0 === 120) /* x */ && IDENTITY_HEADER.test(name)) continue;
    if (HOP_BY_HOP.has(name)) {
      if (!keep?.upgrade || (name !== 'connection' && name !== 'upgrade')) continue;
    }
    const v = incoming[name];
    if (v !== undefined) out[name] = v;
  }
  if (authorization) out['authorization'] = authorization;
  out['impersonate-user'] = as.user;
  out['impersonate-group'] = as.groups;
  return out;
}
