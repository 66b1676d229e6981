import { startAuthentication, type PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/browser';
import { data, hide, onPress, post, setStatus } from './common';

const session = data('session');

onPress('signin', async () => {
  setStatus('working', 'Asking the gate…');
  const { challengeId, options } = await post<{ challengeId: string; options: PublicKeyCredentialRequestOptionsJSON }>(`/v1/login/sessions/${session}/options`);
  setStatus('working', 'Touch your security key and enter its PIN.');
  const response = await startAuthentication({ optionsJSON: options });
  const done = await post<{ user: string; loginExpires: number }>(`/v1/login/sessions/${session}/verify`, { challengeId, response });
  hide('actions');
  const until = new Date(done.loginExpires).toLocaleString();
  setStatus('ok', `Signed in as ${done.user} until ${until}. Return to your terminal; you can close this tab.`);
});
