import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasDotSegment, parseGatePath, podTarget, streamKindOf, type StreamKind } from './request-path';

test('parseGatePath: /k/<cluster>/<kube path> and nothing else', () => {
  const cases: [string, ReturnType<typeof parseGatePath>][] = [
    ['/k/dev/api/v1/pods', { cluster: 'dev', upstreamPath: '/api/v1/pods' }],
    ['/k/dev/api/v1/pods?watch=1&rv=3', { cluster: 'dev', upstreamPath: '/api/v1/pods?watch=1&rv=3' }],
    ['/k/dev', { cluster: 'dev', upstreamPath: '/' }],
    ['/k/dev?timeout=32s', { cluster: 'dev', upstreamPath: '/?timeout=32s' }],
    ['/k/dev/', { cluster: 'dev', upstreamPath: '/' }],
    ['/k/prod-eu.1/version', { cluster: 'prod-eu.1', upstreamPath: '/version' }],
    ['/k//api', undefined],
    ['/k/', undefined],
    ['/api/v1/pods', undefined],
    ['/kk/dev/api', undefined],
  ];
  for (const [url, want] of cases) assert.deepEqual(parseGatePath(url), want, url);
});

test('streamKindOf: what counts as a long-running stream', () => {
  const cases: [string, boolean, StreamKind | undefined][] = [
    ['/api/v1/namespaces/default/pods', false, undefined],
    ['/api/v1/namespaces/default/pods?watch=true', false, 'watch'],
    ['/api/v1/namespaces/default/pods?labelSelector=a&watch=1', false, 'watch'],
    ['/api/v1/namespaces/default/pods?watch=false', false, undefined],
    ['/api/v1/watch/namespaces/default/pods', false, 'watch'],
    ['/apis/apps/v1/watch/deployments', false, 'watch'],
    ['/apis/apps/v1/namespaces/watch/deployments', false, undefined], // a namespace called "watch"
    ['/api/v1/namespaces/default/pods/web/log?follow=true&container=c', false, 'logs'],
    ['/api/v1/namespaces/default/pods/web/log', false, undefined],
    ['/api/v1/namespaces/default/pods/web/exec?command=sh', true, 'exec'],
    ['/api/v1/namespaces/default/pods/web/attach?stdin=true', true, 'attach'],
    ['/api/v1/namespaces/default/pods/web/portforward?ports=80', true, 'port-forward'],
    ['/api/v1/namespaces/default/services/web/proxy/', true, 'upgrade'],
  ];
  for (const [p, upgrade, want] of cases) assert.equal(streamKindOf(p, upgrade), want, p);
});

test('podTarget: namespace, pod and exec command for the audit log', () => {
  assert.deepEqual(podTarget('/api/v1/namespaces/pay/pods/web-1/exec?command=sh&command=-c&command=echo+hi&stdin=true'), {
    namespace: 'pay',
    pod: 'web-1',
    command: ['sh', '-c', 'echo hi'],
  });
  assert.deepEqual(podTarget('/api/v1/namespaces/pay/pods/web-1/portforward?ports=8080'), { namespace: 'pay', pod: 'web-1' });
  assert.equal(podTarget('/api/v1/namespaces/pay/pods'), undefined);
});

test('hasDotSegment: no climbing out of the cluster\'s base path', () => {
  for (const p of ['/../c-2/api', '/api/../../x', '/./api', '/%2e%2e/x', '/%2E./x', '/api/v1/..']) assert.equal(hasDotSegment(p), true, p);
  for (const p of ['/api/v1/pods', '/api/v1/namespaces/a..b/pods', '/api?x=/../', '/.well-known/openid-configuration', '/']) assert.equal(hasDotSegment(p), false, p);
});
