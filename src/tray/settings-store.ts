import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { parseDuration } from '../core/duration';
import { TapgateError } from '../core/errors';
import { normaliseServer } from './launch-args';

const notificationsSchema = z
  .object({
    /** one minute before the MFA certificate lapses, and when the login session ends */
    lapseWarning: z.boolean().default(true),
    /** a kubectl request is held until you tap */
    held: z.boolean().default(true),
    /** after each tap */
    verified: z.boolean().default(true),
    /** an admin locked you out */
    locked: z.boolean().default(true),
  })
  .strict();

export const traySettingsSchema = z
  .object({
    /** the gate's URL; empty until the first login or --server */
    server: z.string().optional(),
    /** the MFA lifetime to ask for; the gate caps it at the role's interval */
    defaultTtl: z.string().default('15m'),
    startAtLogin: z.boolean().default(false),
    notifications: notificationsSchema.default({ lapseWarning: true, held: true, verified: true, locked: true }),
  })
  .strict();

export type TraySettings = z.infer<typeof traySettingsSchema>;
export type TraySettingsPatch = Partial<Omit<TraySettings, 'notifications'>> & { notifications?: Partial<TraySettings['notifications']> };

export const defaultSettings = (): TraySettings => traySettingsSchema.parse({});

/** Checks what a window or the command line wants to change; errors say what to write instead. */
export function applySettingsPatch(current: TraySettings, patch: unknown): TraySettings {
  const p = z
    .object({
      server: z.string().optional(),
      defaultTtl: z.string().optional(),
      startAtLogin: z.boolean().optional(),
      notifications: notificationsSchema.partial().optional(),
    })
    .strict()
    .safeParse(patch);
  if (!p.success) {
    const issue = p.error.issues[0]!;
    throw new TapgateError('bad_settings', `settings: ${issue.path.join('.') || '(top level)'}: ${issue.message}`);
  }
  const next: TraySettings = { ...current, notifications: { ...current.notifications, ...p.data.notifications } };
  if (p.data.server !== undefined) next.server = p.data.server.trim() === '' ? undefined : normaliseServer(p.data.server);
  if (p.data.defaultTtl !== undefined) {
    const ms = parseDuration(p.data.defaultTtl, 'default TTL');
    if (ms < 60_000 || ms > 24 * 3_600_000) throw new TapgateError('bad_settings', 'default TTL must be between 1m and 24h');
    next.defaultTtl = p.data.defaultTtl.trim();
  }
  if (p.data.startAtLogin !== undefined) next.startAtLogin = p.data.startAtLogin;
  return next;
}

/**
 * The tray's settings as a JSON file (0600, written atomically). A broken or hand-edited file
 * never stops the tray: it falls back to defaults and says why in `loadError`.
 */
export class SettingsStore {
  private current: TraySettings;
  loadError: string | undefined;

  constructor(private readonly file: string) {
    this.current = this.read();
  }

  get(): TraySettings {
    return structuredClone(this.current);
  }

  update(patch: unknown): TraySettings {
    const next = applySettingsPatch(this.current, patch);
    writeFileAtomic(this.file, `${JSON.stringify(next, null, 2)}\n`);
    this.current = next;
    return this.get();
  }

  private read(): TraySettings {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch {
      return defaultSettings();
    }
    try {
      return traySettingsSchema.parse(JSON.parse(text));
    } catch (e) {
      this.loadError = `${this.file} could not be read (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); using defaults`;
      return defaultSettings();
    }
  }
}

export function writeFileAtomic(file: string, data: string | Buffer): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}
