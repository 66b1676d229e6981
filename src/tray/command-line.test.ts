import { test } from 'node:test';
import assert from 'node:assert/strict';
import { programName, readableCommand } from './command-line';

test('connection flags and the binary path are dropped; the rest stays in order', () => {
  assert.equal(readableCommand('/usr/local/bin/kubectl --kubeconfig /tmp/h/kube/agent.yaml --context tapgate-dev exec -i shell -- cat'), 'kubectl exec -i shell -- cat');
  assert.equal(readableCommand('kubectl --context=tapgate-prod get pods -n payments'), 'kubectl get pods -n payments');
  assert.equal(readableCommand('k9s'), 'k9s');
  assert.equal(readableCommand('kubectl exec web -- sh -c "echo --context"'), 'kubectl exec web -- sh -c "echo --context"');
  assert.equal(readableCommand('kubectl --context x exec web -- tool --context keep'), 'kubectl exec web -- tool --context keep');
  assert.equal(readableCommand(''), '');
});

test('programName', () => {
  assert.equal(programName('/usr/local/bin/kubectl get pods'), 'kubectl');
  assert.equal(programName('C:\\tools\\kubectl.exe get pods'), 'kubectl.exe');
});
