/**
 * Start at login. Electron's setLoginItemSettings covers macOS and Windows; on Linux the
 * freedesktop way is a .desktop file in ~/.config/autostart, written here.
 */
export function autostartDesktopEntry(execPath: string, args: readonly string[] = []): string {
  const exec = [execPath, ...args].map(desktopQuote).join(' ');
  return ['[Desktop Entry]', 'Type=Application', 'Name=Tapgate', 'Comment=kubectl access behind a security-key tap', `Exec=${exec}`, 'Icon=tapgate', 'Terminal=false', 'X-GNOME-Autostart-enabled=true', ''].join('\n');
}

/** Quoting per the Desktop Entry spec: reserved characters force double quotes; ", `, $ and \ are escaped. */
function desktopQuote(arg: string): string {
  if (!/[\s"'\\><~|&;$*?#()`]/.test(arg)) return arg.replace(/%/g, '%%');
  return `"${arg.replace(/([\\"`$])/g, '\\$1').replace(/%/g, '%%')}"`;
}
