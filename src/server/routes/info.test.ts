import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../config/config';
import { publicKubeUrl } from './info';

test('clients are told the kube listener on the public host, or the configured URL', () => {
  assert.equal(publicKubeUrl(parseConfig({})), 'https://localhost:3026');
  assert.equal(publicKubeUrl(parseConfig({ public_url: 'https://gate.example.com', listen: { api: '0.0.0.0:443', kube: '0.0.0.0:3026' } })), 'https://gate.example.com:3026');
  assert.equal(publicKubeUrl(parseConfig({ public_kube_url: 'https://kube.example.com/' })), 'https://kube.example.com');
});
