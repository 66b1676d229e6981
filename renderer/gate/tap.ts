import { startAuthentication, type PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/browser';
import { data, hide, onPress, post, setStatus } from './common';

const request = data('request');

function formatTtl(ms: number): string {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h) return m ? `${h}h ${m}m` : `${h}h`;
  if (m) return s % 60 ? `${m}m ${s % 60}s` : `${m}m`;
  return `${s}s`;
}

onPress('approve', async () => {
  setStatus('working', 'Asking the gate…');
  const { challengeId, options } = await post<{ challengeId: string; options: PublicKeyCredentialRequestOptionsJSON }>(`/v1/mfa/requests/${request}/options`);
  setStatus('working', 'Touch your security key.');
  const response = await startAuthentication({ optionsJSON: options });
  const done = await post<{ ttlMs: number; notAfter: number }>(`/v1/mfa/requests/${request}/verify`, { challengeId, response });
  hide('actions');
  hide('note');
  setStatus('ok', `Approved for ${formatTtl(done.ttlMs)} (until ${new Date(done.notAfter).toLocaleTimeString()}). You can close this window.`);
});

onPress('deny', async () => {
  await post(`/v1/mfa/requests/${request}/deny`);
  hide('actions');
  hide('note');
  setStatus('info', 'Denied. Nothing was approved. If you did not start this, tell your administrator.');
});
