/**
 * A refusal or failure the user can act on. `message` is what the user reads (it says what to do
 * next); `code` is stable for programs; `auditReason` is what goes into the audit log.
 */
export class TapgateError extends Error {
  readonly code: string;
  readonly status: number;
  readonly auditReason: string;

  constructor(code: string, message: string, opts: { status?: number; auditReason?: string } = {}) {
    super(message);
    this.name = 'TapgateError';
    this.code = code;
    this.status = opts.status ?? 400;
    this.auditReason = opts.auditReason ?? code;
  }
}

export const isTapgateError = (e: unknown): e is TapgateError => e instanceof TapgateError;

/** Turns any thrown value into one line for a terminal: no stack traces for users. */
export function describeError(e: unknown): string {
  if (e instanceof TapgateError) return e.message;
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    return code ? `${e.message} (${code})` : e.message;
  }
  return String(e);
}
