import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { findPeerProcess, findSocketInode, formatArgv } from './peer-process';

const PROC_NET_TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:A1B2 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 11111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:C350 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000  1000        0 22222 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:A1B2 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 33333 1 0000000000000000 20 4 30 10 -1
`;

test('the client socket is the one whose local port is the peer port', () => {
  // proxy listens on 0xA1B2 = 41394; the client connected from 0xC350 = 50000
  assert.equal(findSocketInode(PROC_NET_TCP, 50000, 41394), '22222');
  assert.equal(findSocketInode(PROC_NET_TCP, 50001, 41394), undefined);
});

test('command lines read like typed commands', () => {
  assert.equal(formatArgv(['/usr/local/bin/kubectl', 'get', 'pods', '-n', 'payments']), 'kubectl get pods -n payments');
  assert.equal(formatArgv(['kubectl', 'exec', 'web-1', '--', 'sh', '-c', 'echo hi']), "kubectl exec web-1 -- sh -c 'echo hi'");
  assert.equal(formatArgv([]), '');
});

test('on Linux the peer of a loopback connection is found (here: this very process)', { skip: process.platform !== 'linux' }, async () => {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const client = net.connect(port, '127.0.0.1');
  const sock = await accepted;
  try {
    const p = await findPeerProcess(sock.remotePort!, port);
    assert.equal(p?.pid, process.pid);
    assert.match(p!.command, /^node /);
  } finally {
    client.destroy();
    sock.destroy();
    server.close();
  }
});
