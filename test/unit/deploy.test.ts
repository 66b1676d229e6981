/**
 * The shipped deployment files say what docs/operations.md promises: the in-cluster gate may only
 * impersonate, its config is one the gate accepts, and the systemd unit is locked down.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { parseConfig } from '../../src/config/config';

const deploy = fileURLToPath(new URL('../../deploy/', import.meta.url));
type Doc = { kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };

const docs: Doc[] = readdirSync(join(deploy, 'kubernetes'))
  .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  .flatMap((f) => YAML.parseAllDocuments(readFileSync(join(deploy, 'kubernetes', f), 'utf8')).map((d) => d.toJS() as Doc));
const find = (kind: string) => docs.filter((d) => d.kind === kind);

test('the gate service account may impersonate users, groups and service accounts, and nothing else', () => {
  const roles = [...find('ClusterRole'), ...find('Role')];
  assert.equal(roles.length, 1);
  assert.deepEqual(roles[0]!.rules, [{ apiGroups: [''], resources: ['users', 'groups', 'serviceaccounts'], verbs: ['impersonate'] }]);
  const bindings = [...find('ClusterRoleBinding'), ...find('RoleBinding')] as unknown as { roleRef: { name: string }; subjects: { kind: string; name: string; namespace: string }[] }[];
  assert.equal(bindings.length, 1);
  assert.equal(bindings[0]!.roleRef.name, roles[0]!.metadata.name);
  const deployment = find('Deployment')[0] as unknown as { spec: { template: { spec: { serviceAccountName: string } } } };
  assert.deepEqual(bindings[0]!.subjects, [{ kind: 'ServiceAccount', name: deployment.spec.template.spec.serviceAccountName, namespace: 'tapgate' }]);
});

test('the in-cluster config is valid: PostgreSQL storage, in_cluster credentials, listening beyond loopback', () => {
  const cm = find('ConfigMap')[0] as unknown as { data: Record<string, string> };
  const cfg = parseConfig(YAML.parse(cm.data['tapgate.yaml']!), 'deploy/kubernetes/config.yaml');
  assert.equal(cfg.storage.type, 'postgres');
  assert.deepEqual(cfg.clusters.map((c) => c.in_cluster), [true]);
  assert.match(cfg.listen.api, /^0\.0\.0\.0:/);
  assert.match(cfg.listen.kube, /^0\.0\.0\.0:/);
});

test('gate pods run as non-root with a read-only root filesystem and no capabilities', () => {
  const d = find('Deployment')[0] as unknown as { spec: { replicas: number; template: { spec: { securityContext: Record<string, unknown>; containers: { securityContext: Record<string, unknown> }[] } } } };
  assert.ok(d.spec.replicas >= 2);
  assert.equal(d.spec.template.spec.securityContext.runAsNonRoot, true);
  const c = d.spec.template.spec.containers[0]!.securityContext;
  assert.equal(c.readOnlyRootFilesystem, true);
  assert.equal(c.allowPrivilegeEscalation, false);
  assert.deepEqual(c.capabilities, { drop: ['ALL'] });
});

test('the systemd unit drops privileges and makes the system read-only', () => {
  const unit = readFileSync(join(deploy, 'systemd', 'tapgate.service'), 'utf8');
  for (const line of ['DynamicUser=yes', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'StateDirectory=tapgate', 'CapabilityBoundingSet=', 'PrivateTmp=yes']) {
    assert.ok(unit.split('\n').includes(line), `missing ${line}`);
  }
});
