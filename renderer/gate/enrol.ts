import { startRegistration, type PublicKeyCredentialCreationOptionsJSON } from '@simplewebauthn/browser';
import { data, hide, onPress, post, setStatus } from './common';

const token = data('token');

onPress('register', async () => {
  setStatus('working', 'Asking the gate…');
  const { challengeId, options } = await post<{ challengeId: string; options: PublicKeyCredentialCreationOptionsJSON }>(`/v1/enrol/${token}/options`);
  setStatus('working', 'Touch your security key, and enter its PIN if asked.');
  const response = await startRegistration({ optionsJSON: options });
  const keyName = (document.getElementById('key-name') as HTMLInputElement | null)?.value ?? '';
  const done = await post<{ user: string; keyName: string }>(`/v1/enrol/${token}/verify`, { challengeId, response, keyName });
  hide('actions');
  hide('key-name-row');
  hide('note');
  setStatus('ok', `Security key "${done.keyName}" is registered for ${done.user}. You can close this tab and run: tapgate login`);
});
