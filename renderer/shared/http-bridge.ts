import type { TrayPush } from '../../src/tray/agent-source';
import type { InvokeApi, InvokeName, TapgateApi } from '../../src/tray/ipc-channels';
import { invokeNames } from '../../src/tray/ipc-channels';
import { unwrapResult } from '../../src/tray/ipc-result';

/**
 * The status server's side of the bridge: calls are POSTs answered with {result}|{error}, updates
 * arrive as Server-Sent Events. The session cookie was set when the tokened URL was opened.
 */
export function httpBridge(base = ''): TapgateApi {
  const listeners = new Set<(p: TrayPush) => void>();
  let source: EventSource | undefined;

  const invoke = async (name: InvokeName, args: unknown[]): Promise<unknown> => {
    const res = await fetch(`${base}/api/invoke/${name}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-tapgate': '1' },
      body: JSON.stringify({ args }),
      credentials: 'same-origin',
    });
    if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
    return unwrapResult(await res.json());
  };

  const api = Object.fromEntries(invokeNames.map((n) => [n, (...args: unknown[]) => invoke(n, args)])) as unknown as InvokeApi;
  return {
    ...api,
    kind: 'http',
    subscribe(listener) {
      listeners.add(listener);
      if (!source) {
        source = new EventSource(`${base}/api/push`);
        source.onmessage = (m: MessageEvent<string>) => {
          const push = JSON.parse(m.data) as TrayPush;
          for (const l of listeners) l(push);
        };
      }
      return () => {
        listeners.delete(listener);
        if (!listeners.size) {
          source?.close();
          source = undefined;
        }
      };
    },
  };
}
