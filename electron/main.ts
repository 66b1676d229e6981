import { app, BaseWindow, BrowserWindow, clipboard, dialog, ipcMain, Menu, nativeImage, nativeTheme, Notification, safeStorage, session, shell, Tray, WebContentsView, type MenuItemConstructorOptions, type WebContents, type WebPreferences } from 'electron';
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, watch, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Agent } from '../src/client/agent';
import { ControlClient, ControlServer } from '../src/client/control-socket';
import type { PendingTap } from '../src/client/agent-types';
import { tapgateHome } from '../src/client/profile';
import { systemClock } from '../src/core/clock';
import { parseDuration } from '../src/core/duration';
import { describeError } from '../src/core/errors';
import { AgentHost } from '../src/tray/agent-host';
import type { AgentSource, TrayPush } from '../src/tray/agent-source';
import { chainsToCa } from '../src/tray/gate-trust';
import { createInvokeApi, invokeByName, sameOrigin } from '../src/tray/invoke-api';
import { InvokeChannel, invokeNames, PushChannel } from '../src/tray/ipc-channels';
import { wrapResult } from '../src/tray/ipc-result';
import { parseLaunchArgs, PROTOCOL } from '../src/tray/launch-args';
import { isTrustedSender, mayNavigate, windowOpenAction } from '../src/tray/navigation-policy';
import { boxProtects } from '../src/tray/sealed-file';
import { loadTrayLogin } from '../src/tray/sealed-login';
import { SettingsStore, type TraySettings } from '../src/tray/settings-store';
import { claimSingleInstance, launchSocketPath, listenForLaunches } from '../src/tray/single-instance';
import { autostartDesktopEntry } from '../src/tray/start-at-login';
import { contextOverlay, onPath, terminalLaunch } from '../src/tray/terminal';
import { TrayController, type TrayPorts } from '../src/tray/tray-controller';
import { trayIconFile } from '../src/tray/tray-icons';
import type { MenuEntry, TrayIconState } from '../src/tray/tray-model';

// Thin adapter: every decision lives in src/tray (plain Node, unit-tested); this file wires it
// to Tray, windows, notifications and IPC. Bundled to dist-electron/main.cjs by vite.config.ts.
const ARGV_OFFSET = app.isPackaged ? 1 : 2;
const RENDERER = join(__dirname, '..', 'dist', 'renderer');
const RENDERER_URL = pathToFileURL(RENDERER).href;
const ICONS = app.isPackaged ? join(process.resourcesPath, 'tray') : join(__dirname, '..', 'assets', 'tray');
const PRELOAD = join(__dirname, 'preload.cjs');
const TAP_SHELL_HEIGHT = 250;
const log = (line: string) => process.stderr.write(`[tapgate-tray] ${line}\n`);

let controller: TrayController | undefined;
let gateOrigin: string | undefined;
let gateCa = '';
const early: string[][] = [process.argv.slice(ARGV_OFFSET)];
const gateContents = new WeakSet<WebContents>();

function launch(args: string[]): void {
  const { request, warnings } = parseLaunchArgs(args);
  warnings.forEach(log);
  if (controller) void controller.handleLaunch(request);
  else early.push(args);
}

const secure = (preload: boolean): WebPreferences => ({ preload: preload ? PRELOAD : undefined, contextIsolation: true, nodeIntegration: false, sandbox: true, webSecurity: true, spellcheck: false, navigateOnDragDrop: false });

if (!claimSingleInstance(app, launch, ARGV_OFFSET)) {
  app.quit(); // the running tray got our argv
} else {
  app.enableSandbox();
  if (process.defaultApp) app.setAsDefaultProtocolClient(PROTOCOL, process.execPath, [resolve(process.argv[1] ?? '.')]);
  else app.setAsDefaultProtocolClient(PROTOCOL);
  app.on('open-url', (e, url) => {
    e.preventDefault();
    launch([url]);
  });
  app.on('window-all-closed', () => undefined); // a tray app outlives its windows
  app.on('web-contents-created', (_e, wc) => {
    const kind = () => (gateContents.has(wc) ? 'gate' : 'renderer');
    const guard = (e: { preventDefault(): void }, url: string) => {
      if (!mayNavigate(kind(), url, gateOrigin)) e.preventDefault();
    };
    wc.on('will-navigate', (e) => guard(e, e.url));
    wc.on('will-redirect', (e) => guard(e, e.url));
    wc.on('will-attach-webview', (e) => e.preventDefault());
    wc.setWindowOpenHandler(({ url }) => {
      if (windowOpenAction(url, gateOrigin) === 'open-external') void shell.openExternal(url);
      return { action: 'deny' };
    });
  });
  // the gate may use its own CA (saved at login): trust it for the gate's origin, nothing else
  app.on('certificate-error', (event, _wc, url, _error, cert, callback) => {
    const chain: string[] = [];
    for (let c = cert.issuerCert; c && chain.length < 5; c = c.issuerCert) chain.push(c.data);
    const ok = !!gateOrigin && sameOrigin(url, gateOrigin) && chainsToCa(cert.data, chain, gateCa);
    if (ok) event.preventDefault();
    callback(ok);
  });
  app
    .whenReady()
    .then(start)
    .catch((e) => {
      dialog.showErrorBox('Tapgate could not start', describeError(e));
      app.exit(1);
    });
}

async function start(): Promise<void> {
  app.dock?.hide();
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, cb) => cb(false));
  const settings = new SettingsStore(join(app.getPath('userData'), 'settings.json'));
  if (settings.loadError) log(settings.loadError);
  const home = tapgateHome();
  const host = new AgentHost({
    loadLogin: () => {
      const login = loadTrayLogin(home, safeStorage);
      if (login && !settings.get().server) settings.update({ server: login.profile.server });
      if (login && login.profile.server !== settings.get().server) return undefined; // logged in elsewhere: not this gate's session
      gateCa = login?.profile.caPem ?? '';
      return login;
    },
    startAgent: (login) => Agent.start({ login, home, prompt: controller, processName: 'Tapgate tray', ttlMs: parseDuration(settings.get().defaultTtl) }),
    server: () => settings.get().server,
    clock: systemClock,
    log,
  });
  // a `tapgate agent` already running: show that one rather than start a second kube proxy
  const remote = await ControlClient.tryConnect().catch(() => undefined);
  const source: AgentSource = remote ?? host;
  const tray = new Tray(trayImage('idle'));
  const windows = new Windows(() => controller?.tapWindowClosed());
  controller = new TrayController(source, ports(tray, windows), {
    clock: systemClock,
    settings: () => settings.get(),
    changeServer: async (server) => {
      settings.update({ server });
      await host.reload();
    },
  });

  const api = createInvokeApi({
    agent: source,
    settings,
    keyProtected: () => boxProtects(safeStorage),
    openExternal: async (url) => (await shell.openExternal(url), true),
    onSettingsSaved: (next) => applySettings(next, host),
  });
  for (const name of invokeNames) {
    ipcMain.handle(InvokeChannel[name], (e, ...args: unknown[]) => (isTrustedSender(e.senderFrame?.url, RENDERER_URL) ? wrapResult(() => invokeByName(api, name, args)) : { error: { message: 'not allowed' } }));
  }
  source.subscribe((p) => {
    if (p.event === 'status') gateOrigin = p.data.server ? new URL(p.data.server).origin : undefined;
    windows.broadcast(p);
  });
  if (process.platform === 'win32') tray.on('click', () => windows.showStatus('status'));
  nativeTheme.on('updated', () => tray.setImage(trayImage(lastIcon)));

  await controller.onReady();
  if (!remote) {
    await host.reload();
    await ControlServer.listen(host).catch((e) => log(`control socket: ${describeError(e)}`)); // the CLI and exec plugin use the tray's agent
    mkdirSync(home, { recursive: true, mode: 0o700 });
    let debounce: NodeJS.Timeout | undefined;
    watch(home, () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => void host.reload(), 300); // a new `tapgate login`
    });
  }
  await listenForLaunches(launchSocketPath(), launch).catch((e) => log(`launch socket: ${describeError(e)}`));
  for (const args of early.splice(0)) launch(args);
  let stopping = false;
  app.on('before-quit', (e) => {
    if (stopping) return;
    stopping = true;
    e.preventDefault(); // let the agent close its proxy and remove its kubeconfig first
    void host.stop().finally(() => app.quit());
  });
}

let lastIcon: TrayIconState = 'idle';
function trayImage(state: TrayIconState): Electron.NativeImage {
  lastIcon = state;
  return nativeImage.createFromPath(join(ICONS, trayIconFile(state, process.platform, nativeTheme.shouldUseDarkColors)));
}

function ports(tray: Tray, windows: Windows): TrayPorts {
  const notices = new Set<Notification>(); // keep a reference until clicked or closed
  const toItem = (m: MenuEntry): MenuItemConstructorOptions =>
    m.kind === 'separator'
      ? { type: 'separator' }
      : m.kind === 'submenu'
        ? { label: m.label, enabled: m.enabled, submenu: m.items.map(toItem) }
        : { label: m.label, enabled: m.enabled, click: m.action ? () => void controller?.handleAction(m.action!) : undefined };
  return {
    setAppearance: ({ icon, tooltip, title }) => {
      tray.setImage(trayImage(icon));
      tray.setToolTip(tooltip);
      if (process.platform === 'darwin') tray.setTitle(title, { fontType: 'monospacedDigit' });
    },
    setMenu: (menu) => tray.setContextMenu(Menu.buildFromTemplate(menu.map(toItem))),
    notify: (n, onClick) => {
      if (!Notification.isSupported()) return log(`notification: ${n.title}: ${n.body}`);
      const note = new Notification({ title: n.title, body: n.body });
      notices.add(note);
      note.on('click', () => (notices.delete(note), onClick?.()));
      note.on('close', () => notices.delete(note));
      note.show();
    },
    showTapWindow: (p) => windows.showTap(p),
    closeTapWindow: () => windows.closeTap(),
    showStatusWindow: (view) => windows.showStatus(view),
    copyText: (text) => clipboard.writeText(text),
    openTerminal: async (cluster, context, kubeconfig) => {
      const overlay = join(app.getPath('userData'), 'contexts', `${cluster}.yaml`);
      mkdirSync(join(overlay, '..'), { recursive: true, mode: 0o700 });
      writeFileSync(overlay, contextOverlay(context), { mode: 0o600 });
      const t = terminalLaunch({ platform: process.platform, overlayPath: overlay, kubeconfigPath: kubeconfig, cluster, context, env: process.env, has: (c) => onPath(c) });
      if (!t) throw new Error('no terminal program found; set $TERMINAL to one');
      spawn(t.command, t.args, { env: { ...process.env, ...t.env }, detached: true, stdio: 'ignore' }).unref();
    },
    confirm: async (message, detail) => (await dialog.showMessageBox({ type: 'question', message, detail, buttons: ['Switch', 'Cancel'], defaultId: 1, cancelId: 1 })).response === 0,
    quit: () => app.quit(),
    log,
  };
}

function applySettings(next: TraySettings, host: AgentHost): Promise<void> {
  if (process.platform === 'linux') {
    const file = join(homedir(), '.config', 'autostart', 'tapgate.desktop');
    if (next.startAtLogin) {
      mkdirSync(join(file, '..'), { recursive: true });
      writeFileSync(file, autostartDesktopEntry(process.env.APPIMAGE ?? process.execPath));
    } else rmSync(file, { force: true });
  } else app.setLoginItemSettings({ openAtLogin: next.startAtLogin });
  return host.reload(); // a new server takes effect now; a new TTL with the next agent
}

/** The tap window (our shell above the gate's own page) and the status window. */
class Windows {
  private tap: { win: BaseWindow; shell: WebContentsView; gate: WebContentsView } | undefined;
  private status: BrowserWindow | undefined;

  constructor(private readonly onTapClosed: () => void) {}

  showTap(p: PendingTap): void {
    if (!this.tap) {
      const win = new BaseWindow({ width: 440, height: 760, useContentSize: true, resizable: false, minimizable: false, maximizable: false, fullscreenable: false, alwaysOnTop: true, title: 'Tapgate: tap your security key', show: false });
      const shellView = new WebContentsView({ webPreferences: secure(true) });
      const gate = new WebContentsView({ webPreferences: secure(false) });
      gateContents.add(gate.webContents);
      win.contentView.addChildView(shellView);
      win.contentView.addChildView(gate);
      const { width, height } = win.getContentBounds();
      shellView.setBounds({ x: 0, y: 0, width, height: TAP_SHELL_HEIGHT });
      gate.setBounds({ x: 0, y: TAP_SHELL_HEIGHT, width, height: height - TAP_SHELL_HEIGHT });
      void shellView.webContents.loadFile(join(RENDERER, 'tap', 'index.html'));
      const problem = (text: string) => shellView.webContents.send(PushChannel, { event: 'tap-view', data: { problem: text } } satisfies TrayPush);
      gate.webContents.on('did-fail-load', (_e, _code, desc, _url, mainFrame) => mainFrame && problem(`The gate's page did not load (${desc}).`));
      gate.webContents.on('console-message', (e) => {
        if (e.level === 'error' && /NotAllowedError|NotSupportedError|SecurityError|InvalidStateError/.test(e.message)) problem('This window could not talk to your security key.');
      });
      win.on('closed', () => {
        shellView.webContents.close();
        gate.webContents.close();
        this.tap = undefined;
        this.onTapClosed();
      });
      this.tap = { win, shell: shellView, gate };
    }
    if (this.tap.gate.webContents.getURL() !== p.tapUrl) {
      gateOrigin = new URL(p.tapUrl).origin;
      void this.tap.gate.webContents.loadURL(p.tapUrl);
    }
    this.tap.win.show();
    this.tap.win.focus();
    app.focus({ steal: true });
  }

  closeTap(): void {
    const t = this.tap;
    if (t) setTimeout(() => !t.win.isDestroyed() && t.win.close(), 1500); // let "Verified" show for a moment
  }

  showStatus(view: 'status' | 'connections' | 'settings'): void {
    if (!this.status || this.status.isDestroyed()) {
      this.status = new BrowserWindow({ width: 820, height: 660, minWidth: 600, title: 'Tapgate', show: false, autoHideMenuBar: true, webPreferences: secure(true) });
      this.status.once('ready-to-show', () => this.status?.show());
    }
    void this.status.loadFile(join(RENDERER, 'status', 'index.html'), { hash: view });
    this.status.show();
    this.status.focus();
  }

  broadcast(p: TrayPush): void {
    for (const wc of [this.status?.webContents, this.tap?.shell.webContents]) if (wc && !wc.isDestroyed()) wc.send(PushChannel, p);
  }
}
