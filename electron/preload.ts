import { contextBridge, ipcRenderer } from 'electron';
import type { TrayPush } from '../src/tray/agent-source';
import { InvokeChannel, invokeNames, PushChannel, type InvokeApi, type TapgateApi } from '../src/tray/ipc-channels';
import { unwrapResult } from '../src/tray/ipc-result';

// The one object our pages get (window.tapgate). Answers come back as {result}|{error}; an
// error becomes a real Error here, in the page's world.
const invokers = Object.fromEntries(
  invokeNames.map((name) => [name, async (...args: unknown[]) => unwrapResult(await ipcRenderer.invoke(InvokeChannel[name], ...args))]),
) as unknown as InvokeApi;

const api: TapgateApi = {
  ...invokers,
  kind: 'electron',
  subscribe(listener: (push: TrayPush) => void) {
    const handler = (_e: Electron.IpcRendererEvent, push: TrayPush) => listener(push);
    ipcRenderer.on(PushChannel, handler);
    return () => void ipcRenderer.removeListener(PushChannel, handler);
  },
};

contextBridge.exposeInMainWorld('tapgate', api);
