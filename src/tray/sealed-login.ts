import { join } from 'node:path';
import { loadProfile, type LoginState } from '../client/profile';
import { isSealed, SealedFile, unseal, type SecretBox } from './sealed-file';

/**
 * The saved login (~/.tapgate) for the tray. Where the OS keychain is usable the login key is
 * sealed in place the first time the tray reads it, and unsealed in memory from then on; the key
 * never sits on disk in the clear again until the next `tapgate login`.
 */
export function loadTrayLogin(home: string, box: SecretBox | undefined): LoginState | undefined {
  const state = loadProfile(home);
  if (!state) return undefined;
  const keyFile = join(home, 'login.key');
  if (isSealed(state.keyPem)) return { ...state, keyPem: unseal(box, state.keyPem, keyFile) };
  const file = new SealedFile(keyFile, box);
  if (file.protected) file.write(state.keyPem);
  return state;
}
