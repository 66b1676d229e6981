/** Shared by the gate's pages: JSON calls to the gate and the status line. No framework. */

export class GateError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** POSTs JSON to the gate (same origin) and returns the JSON answer, or throws the gate's message. */
export async function post<T>(path: string, body: unknown = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), credentials: 'omit' });
  } catch {
    throw new GateError('network', 'The gate could not be reached. Check that it is running and try again.');
  }
  const data = (await res.json().catch(() => ({}))) as { code?: string; message?: string };
  if (!res.ok) throw new GateError(data.code ?? 'error', data.message ?? `The gate answered ${res.status}.`);
  return data as T;
}

export type StatusKind = 'info' | 'working' | 'ok' | 'error';

export function setStatus(kind: StatusKind, text: string): void {
  const el = document.getElementById('status')!;
  el.className = `status ${kind}`;
  el.textContent = text;
}

/** Turns what the browser's WebAuthn call threw into something a person can act on. */
export function describeError(e: unknown): string {
  if (e instanceof GateError) return e.message;
  const name = (e as { name?: string })?.name;
  if (name === 'NotAllowedError') return 'The security-key prompt was cancelled or timed out. Press the button to try again.';
  if (name === 'InvalidStateError') return 'This security key is already registered for you. Use a different key.';
  if (name === 'SecurityError') return "This page's address does not match the gate's. Open the link tapgate printed.";
  if (name === 'NotSupportedError') return 'This browser or key does not support what the gate asks for (a key with a PIN or biometric).';
  return (e as Error)?.message || 'Something went wrong. Reload the page and try again.';
}

export function data(name: string): string {
  return document.querySelector<HTMLElement>('main')!.dataset[name] ?? '';
}

/** Runs `fn` when the button is pressed, with the button disabled while it runs. */
export function onPress(id: string, fn: () => Promise<void>): void {
  const button = document.getElementById(id) as HTMLButtonElement | null;
  if (!button) return;
  button.addEventListener('click', async () => {
    const all = document.querySelectorAll<HTMLButtonElement>('button');
    all.forEach((b) => (b.disabled = true));
    try {
      await fn();
    } catch (e) {
      setStatus('error', describeError(e));
      all.forEach((b) => (b.disabled = false));
    }
  });
}

export function hide(id: string): void {
  document.getElementById(id)?.setAttribute('hidden', '');
}
