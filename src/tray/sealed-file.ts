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
  const backend = box.getSelectedStorageBackend?.();
  return backend !== 'basic_text' && backend !== 'unknown';
}

const MAGIC = 'tapgate-sealed-v1\n';

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
    if (this.protected) writeFileAtomic(this.file, Buffer.concat([Buffer.from(MAGIC), this.box!.encryptString(secret)]));
    else writeFileAtomic(this.file, secret);
  }

  /** undefined when there is no file; a file sealed by another keychain is an error that says what to do. */
  read(): string | undefined {
    let raw: Buffer;
    try {
      raw = readFileSync(this.file);
    } catch {
      return undefined;
    }
    if (!raw.subarray(0, MAGIC.length).equals(Buffer.from(MAGIC))) return raw.toString('utf8');
    if (!this.box?.isEncryptionAvailable()) {
      throw new TapgateError('key_sealed', `${this.file} is sealed by the OS keychain, which is not available now; log in again (tapgate login)`);
    }
    try {
      return this.box.decryptString(raw.subarray(MAGIC.length));
    } catch {
      throw new TapgateError('key_sealed', `${this.file} was sealed by another keychain or user; log in again (tapgate login)`);
    }
  }
}
