import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeKubeRequest } from './kube-request';

const cases: [method: string, path: string, upgrade: boolean, kind: string, summary: string][] = [
  ['GET', '/api/v1/namespaces/payments/pods?limit=500', false, 'request', 'get pods -n payments'],
  ['GET', '/api/v1/pods?limit=500', false, 'request', 'get pods'],
  ['GET', '/api/v1/namespaces/default/pods/web-1', false, 'request', 'get pods web-1'],
  ['GET', '/api/v1/namespaces/payments/pods/web-1', false, 'request', 'get pods web-1 -n payments'],
  ['GET', '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb', false, 'request', 'get pods -l app=web -n default'],
  ['GET', '/api/v1/namespaces/default/pods?watch=true&resourceVersion=5', false, 'watch', 'watch pods -n default'],
  ['GET', '/api/v1/watch/namespaces/default/configmaps', false, 'watch', 'watch configmaps -n default'],
  ['GET', '/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3Dweb-1&watch=true', false, 'watch', 'watch pods web-1 -n default'],
  ['GET', '/api/v1/namespaces/default/pods/web-1/log?follow=true', false, 'logs', 'logs -f web-1'],
  ['GET', '/api/v1/namespaces/shop/pods/web-1/log?container=app', false, 'logs', 'logs web-1 -n shop'],
  ['POST', '/api/v1/namespaces/default/pods/web-1/exec?command=sh&stdin=true&stdout=true&tty=true', true, 'exec', 'exec -it web-1 -- sh'],
  ['POST', '/api/v1/namespaces/default/pods/web-1/exec?command=tar&command=cf&command=-&command=%2Ftmp', true, 'exec', 'exec web-1 -- tar cf - /tmp'],
  ['POST', '/api/v1/namespaces/default/pods/web-1/attach?stdin=true', true, 'attach', 'attach web-1'],
  ['POST', '/api/v1/namespaces/default/pods/web-1/portforward?ports=8080', true, 'port-forward', 'port-forward web-1 8080'],
  ['POST', '/api/v1/namespaces/default/configmaps', false, 'request', 'create configmaps -n default'],
  ['PATCH', '/api/v1/namespaces/default/configmaps/cfg?fieldManager=kubectl-patch', false, 'request', 'patch configmaps cfg'],
  ['PUT', '/api/v1/namespaces/default/pods/web-1/status', false, 'request', 'replace pods web-1 (status)'],
  ['DELETE', '/apis/apps/v1/namespaces/default/deployments/web', false, 'request', 'delete deployments web'],
  ['GET', '/api/v1/namespaces', false, 'request', 'get namespaces'],
  ['GET', '/api/v1/namespaces/kube-system', false, 'request', 'get namespaces kube-system'],
  ['GET', '/api/v1/nodes/n1', false, 'request', 'get nodes n1'],
  ['GET', '/version?timeout=32s', false, 'request', 'version'],
  ['GET', '/apis/apps/v1', false, 'request', 'discovery /apis/apps/v1'],
  ['GET', '/api', false, 'request', 'discovery /api'],
  ['GET', '/openapi/v3', false, 'request', 'openapi'],
];

test('kube requests read like kubectl commands', () => {
  for (const [method, path, upgrade, kind, summary] of cases) {
    assert.deepEqual(describeKubeRequest(method, path, upgrade), { kind, summary }, `${method} ${path}`);
  }
});
