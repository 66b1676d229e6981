/**
 * HTML for the gate's own pages. Values are escaped here; the page scripts get what they need
 * from data- attributes, because the CSP allows no inline script.
 */

export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A value already escaped (or built from escaped parts). */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** Tagged template that escapes every interpolated value that is not Html. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => {
    const part = Array.isArray(v) ? v.map((x) => (x instanceof Html ? x.text : escapeHtml(String(x)))).join('') : v instanceof Html ? v.text : escapeHtml(String(v ?? ''));
    out += part + strings[i + 1]!;
  });
  return new Html(out);
}

export function page(opts: { title: string; script?: string; data?: Record<string, string>; body: Html }): string {
  const attrs = Object.entries(opts.data ?? {})
    .map(([k, v]) => ` data-${k}="${escapeHtml(v)}"`)
    .join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(opts.title)} · Tapgate</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/gate.css">
${opts.script ? `<script type="module" src="/assets/${escapeHtml(opts.script)}.js"></script>` : ''}
</head>
<body>
<main${attrs}>
<p class="brand">Tapgate</p>
${opts.body.text}
<p id="status" class="status" role="status" aria-live="polite"></p>
</main>
</body>
</html>
`;
}

/** The page a dead link or unknown request gets: what happened and what to do. */
export function problemPage(title: string, message: string): string {
  return page({ title, body: html`<h1>${title}</h1><p>${message}</p>` });
}
