/**
 * Where the tray's web contents may go. Our pages (the built renderer, loaded from file://) may
 * not navigate at all; the gate's tap page may move within the gate's origin only; new windows
 * never open inside the app — a gate link goes to the default browser, anything else is dropped.
 */
export type ContentsKind = 'renderer' | 'gate';

export function mayNavigate(kind: ContentsKind, url: string, gateOrigin: string | undefined): boolean {
  if (kind === 'renderer') return false;
  return !!gateOrigin && originOf(url) === gateOrigin;
}

export function windowOpenAction(url: string, gateOrigin: string | undefined): 'open-external' | 'deny' {
  return gateOrigin && originOf(url) === gateOrigin ? 'open-external' : 'deny';
}

/** Only our own pages may call the preload API (a compromised gate page must not). */
export function isTrustedSender(senderUrl: string | undefined, rendererRootUrl: string): boolean {
  if (!senderUrl) return false;
  try {
    const u = new URL(senderUrl);
    const root = new URL(rendererRootUrl);
    return u.protocol === 'file:' && root.protocol === 'file:' && decodeURIComponent(u.pathname).startsWith(decodeURIComponent(root.pathname.endsWith('/') ? root.pathname : `${root.pathname}/`));
  } catch {
    return false;
  }
}

function originOf(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.origin : undefined;
  } catch {
    return undefined;
  }
}
