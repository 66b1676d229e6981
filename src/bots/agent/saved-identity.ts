import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { TapgateError } from '../../core/errors';
import { writeAtomic } from './destination';

/**
 * What a bot agent keeps between runs (0600, in the data directory), so a restart renews the
 * instance instead of joining again with a token that was already used. `nextKeyPem` is the key
 * of a renewal whose answer has not arrived: a retry asks for the same key, so the gate can send
 * the same certificate again instead of suspecting theft.
 */
const savedSchema = z.object({
  version: z.literal(1),
  server: z.string(),
  bot: z.string(),
  instanceId: z.string(),
  renewable: z.boolean(),
  tokenName: z.string(),
  certPem: z.string(),
  keyPem: z.string(),
  caPem: z.string(),
  tlsCaPem: z.string(),
  /** names caPem and tlsCaPem; absent in identities saved before the gate sent it */
  caFingerprint: z.string().optional(),
  kubeUrl: z.string(),
  clusters: z.array(z.string()),
  generation: z.number(),
  notAfter: z.number(),
  nextKeyPem: z.string().optional(),
});

export type SavedIdentity = z.infer<typeof savedSchema>;

export const IDENTITY_FILE = 'identity.json';

export async function loadIdentity(dataDir: string): Promise<SavedIdentity | undefined> {
  const path = join(dataDir, IDENTITY_FILE);
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const r = savedSchema.safeParse(parsed);
  if (!r.success) throw new TapgateError('bad_saved_identity', `${path} is damaged; delete it and join again with a new token`);
  return r.data;
}

export async function saveIdentity(dataDir: string, id: SavedIdentity): Promise<void> {
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  await writeAtomic(join(dataDir, IDENTITY_FILE), JSON.stringify(id, null, 2) + '\n');
}
