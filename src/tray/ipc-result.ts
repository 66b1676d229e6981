import { describeError, isTapgateError } from '../core/errors';

/**
 * IPC and HTTP answers carry `{result}` or `{error}` instead of a thrown value, because a thrown
 * Error loses its class and code crossing a process boundary. `unwrapResult` turns the error
 * back into a real Error on the page side (Podman Desktop's ipcInvoke does the same).
 */
export type Wrapped<T> = { result: T; error?: undefined } | { error: { message: string; code?: string }; result?: undefined };

export class RemoteError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'RemoteError';
  }
}

export async function wrapResult<T>(fn: () => T | Promise<T>): Promise<Wrapped<T>> {
  try {
    return { result: await fn() };
  } catch (e) {
    const code = isTapgateError(e) ? e.code : typeof (e as { code?: unknown })?.code === 'string' ? (e as { code: string }).code : undefined;
    return { error: code ? { message: describeError(e), code } : { message: describeError(e) } };
  }
}

export function unwrapResult<T>(w: unknown): T {
  if (!w || typeof w !== 'object') throw new RemoteError('the tray sent an answer that is not an object');
  const o = w as Partial<Wrapped<T>>;
  if (o.error) throw new RemoteError(typeof o.error.message === 'string' ? o.error.message : 'unknown error', o.error.code);
  if (!('result' in o)) throw new RemoteError('the tray sent an answer without a result');
  return o.result as T;
}
