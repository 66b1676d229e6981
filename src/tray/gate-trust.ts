import { X509Certificate } from 'node:crypto';

/**
 * The gate often runs with its own CA (the embedded setup makes one). Browsers do not know it,
 * so the tray trusts exactly the CA saved at login — for the gate's origin only — when the tap
 * page's certificate chain is presented. Everything else keeps Chromium's verdict.
 */
export function chainsToCa(leafPem: string, issuerPems: readonly string[], caPem: string, now = Date.now()): boolean {
  if (!caPem) return false;
  try {
    const ca = new X509Certificate(caPem);
    const chain = [leafPem, ...issuerPems].map((p) => new X509Certificate(p));
    for (const c of chain) if (Date.parse(c.validFrom) > now || Date.parse(c.validTo) < now) return false;
    for (let i = 0; i < chain.length; i++) {
      const cert = chain[i]!;
      if (cert.checkIssued(ca) && cert.verify(ca.publicKey)) return true;
      const next = chain[i + 1];
      if (!next || !cert.checkIssued(next) || !cert.verify(next.publicKey)) return false;
    }
    return false;
  } catch {
    return false;
  }
}
