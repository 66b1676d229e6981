import { readFileSync } from 'node:fs';
import { TapgateError } from '../core/errors';
import { writeFileAtomic } from './settings-store';

/**
 * The shape of Electron's `safeStorage` (OS keychain: Keychain, DPAPI, libsecret/kwallet), so
 * the real one can be passed in and tests use a fake.
 */
export interface SecretBox {
  isEncryptionAvailable(): boolean;
  encryptString(plainText: string): Buffer;
  decryptString(encrypted: Buffer): string;
  /** Linux only: 'basic_text' means no keychain was found and encryption is only obfuscation */
  getSelectedStorageBackend?(): string;
}

/** True when the box really protects data with an OS keychain. */
export function boxProtects(box: SecretBox | undefined): boolean {
  if (!box?.isEncryptionAvailable()) return false;
  let backend: string | undefined;
  try {
    backend = box.getSelectedStorageBackend?.(); // Linux only; macOS and Windows always use the OS keychain
  } catch {
    backend = undefined;
  }
  return backend !== 'basic_text' && backend !== 'unknown';
}

/** Sealed text starts with this line; the rest is base64 (text, so tools that read the file as UTF-8 keep it intact). */
export const SEALED_MAGIC = 'tapgate-sealed-v1';

export function isSealed(text: string): boolean {
  return text.startsWith(`${SEALED_MAGIC}\n`);
}

export function seal(box: SecretBox, secret: string): string {
  return `${SEALED_MAGIC}\n${box.encryptString(secret).toString('base64')}\n`;
}

export function unseal(box: SecretBox | undefined, text: string, where: string): string {
  if (!isSealed(text)) return text;
  if (!box?.isEncryptionAvailable()) {
    throw new TapgateError('key_sealed', `${where} is sealed by the OS keychain, which is not available now; log in again (tapgate login)`);
  }
  try {
    return box.decryptString(Buffer.from(text.slice(SEALED_MAGIC.length + 1).trim(), 'base64'));
  } catch {
    throw new TapgateError('key_sealed', `${where} was sealed by another keychain or user; log in again (tapgate login)`);
  }
}

/**
 * A secret (the login certificate's private key) kept on disk sealed by the OS keychain. Where
 * there is no keychain it is stored as-is with mode 0600, which is what the CLI does; the tray
 * says so in its settings window rather than refusing to work.
 */
export class SealedFile {
  constructor(
    private readonly file: string,
    private readonly box: SecretBox | undefined,
  ) {}

  get protected(): boolean {
    return boxProtects(this.box);
  }

  write(secret: string): void {
    writeFileAtomic(this.file, this.protected ? seal(this.box!, secret) : secret);
  }

  /** undefined when there is no file; a file sealed by another keychain is an error that says what to do. */
  read(): string | undefined {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch {
      return undefined;
    }
    return unseal(this.box, text, this.file);
  }
}
