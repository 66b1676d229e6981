import type { z } from 'zod';
import { TapgateError } from '../core/errors';

/** Validates request input against a zod schema; the error names the field, as the user sent it. */
export function validate<T extends z.ZodType>(schema: T, input: unknown, what = 'request body'): z.infer<T> {
  const r = schema.safeParse(input ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const where = issue.path.length ? issue.path.join('.') : '(top level)';
  const msg = issue.code === 'unrecognized_keys' ? `unknown field ${issue.keys.map((k) => `"${k}"`).join(', ')}` : issue.message;
  throw new TapgateError('bad_request', `${what}: ${where}: ${msg}`, { auditReason: `invalid ${what}` });
}
