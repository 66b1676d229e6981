import assert from 'node:assert/strict';
import { promises as fs, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import YAML from 'yaml';
import { execCredential } from '../../src/client/exec-credential';
import { localKubeconfig, upsertExecContext } from '../../src/client/kubeconfig';
import { warningHeader } from '../../src/client/kube-status';
import { clusterNameFromContext } from '../../src/cli/commands/up';

test('the local kubeconfig has a context per cluster and the local client certificate', () => {
  const kc = YAML.parse(localKubeconfig({ proxyUrl: 'https://127.0.0.1:4000', clusters: ['dev', 'prod'], caPem: 'CA', certPem: 'CERT', keyPem: 'KEY' }));
  assert.equal(kc['current-context'], 'tapgate-dev');
  assert.deepEqual(
    kc.clusters.map((c: { cluster: { server: string } }) => c.cluster.server),
    ['https://127.0.0.1:4000/k/dev', 'https://127.0.0.1:4000/k/prod'],
  );
  assert.equal(Buffer.from(kc.users[0].user['client-key-data'], 'base64').toString(), 'KEY');
});

test('kube login adds an exec-plugin context and keeps everything else', async () => {
  const dir = await fs.mkdtemp(join(tmpdir(), 'tapgate-kc-'));
  const file = join(dir, 'config');
  await fs.writeFile(
    file,
    YAML.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'other',
      clusters: [{ name: 'other', cluster: { server: 'https://other' } }],
      users: [{ name: 'other', user: { token: 't' } }],
      contexts: [{ name: 'other', context: { cluster: 'other', user: 'other' } }],
      preferences: { colors: true },
    }),
  );
  await upsertExecContext(file, { cluster: 'dev', server: 'https://gate:3026/k/dev', caPem: 'GATE CA', command: '/opt/tapgate', args: ['kube', 'credentials', '--cluster', 'dev'], use: true });
  await upsertExecContext(file, { cluster: 'dev', server: 'https://gate:3026/k/dev', caPem: 'GATE CA', command: '/opt/tapgate', args: ['kube', 'credentials', '--cluster', 'dev', '--ttl', '10m'] });
  const kc = YAML.parse(await fs.readFile(file, 'utf8'));
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(kc['current-context'], 'tapgate-dev');
  assert.deepEqual(kc.preferences, { colors: true });
  assert.deepEqual(
    kc.contexts.map((c: { name: string }) => c.name),
    ['other', 'tapgate-dev'],
  );
  const exec = kc.users.find((u: { name: string }) => u.name === 'tapgate-dev').user.exec;
  assert.equal(exec.apiVersion, 'client.authentication.k8s.io/v1');
  assert.equal(exec.interactiveMode, 'IfAvailable');
  assert.deepEqual(exec.args, ['kube', 'credentials', '--cluster', 'dev', '--ttl', '10m']);
  assert.equal(Buffer.from(kc.clusters.find((c: { name: string }) => c.name === 'tapgate-dev').cluster['certificate-authority-data'], 'base64').toString(), 'GATE CA');
  await fs.rm(dir, { recursive: true, force: true });
});

test('an ExecCredential expires with the certificate, or sooner when a shorter ttl is asked', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  const cert = { certPem: 'C', keyPem: 'K', notAfter: now + 15 * 60_000, now };
  assert.equal(execCredential(cert).status.expirationTimestamp, '2026-01-01T00:15:00Z');
  assert.equal(execCredential({ ...cert, ttlMs: 10 * 60_000 }).status.expirationTimestamp, '2026-01-01T00:10:00Z');
  assert.equal(execCredential({ ...cert, ttlMs: 60 * 60_000 }).status.expirationTimestamp, '2026-01-01T00:15:00Z');
});

test('kube context names become gate cluster names', () => {
  assert.equal(clusterNameFromContext('kind-kind'), 'kind-kind');
  assert.equal(clusterNameFromContext('arn:aws:eks:eu-west-1:123:cluster/Prod'), 'arn-aws-eks-eu-west-1-123-cluster-prod');
  assert.equal(clusterNameFromContext('gke_proj_europe-west1_main'), 'gke_proj_europe-west1_main');
  assert.equal(clusterNameFromContext('--'), 'default');
});

test('refusals travel as a Warning kubectl prints, quoted safely', () => {
  assert.equal(warningHeader('tap at "x" \\ now · ok'), '299 - "tap at \\"x\\" \\\\ now ? ok"');
});
