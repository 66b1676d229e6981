/** How the tray writes times: a clock face for titles, words for menus and notifications. */

/** "14:59", "0:05", "1:02:03": for the macOS menu-bar title and countdowns. */
export function clockFace(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

const plural = (n: number, unit: string): string => `${n} ${unit}${n === 1 ? '' : 's'}`;

/** "15 minutes", "1 hour 30 minutes", "45 seconds": rounded the way people say it. */
export function spokenDuration(ms: number): string {
  if (ms < 60_000) return plural(Math.max(0, Math.round(ms / 1000)), 'second');
  const minutes = Math.round(ms / 60_000);
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  if (!h) return plural(m, 'minute');
  return m ? `${plural(h, 'hour')} ${plural(m, 'minute')}` : plural(h, 'hour');
}

/** Coarse, for menu lines that should not change every second: "14 min", "2 h 5 min", "under a minute". */
export function coarseDuration(ms: number): string {
  if (ms < 60_000) return 'under a minute';
  const minutes = Math.floor(ms / 60_000);
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  if (!h) return `${m} min`;
  return m ? `${h} h ${m} min` : `${h} h`;
}
