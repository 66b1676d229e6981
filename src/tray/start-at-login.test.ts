import { test } from 'node:test';
import assert from 'node:assert/strict';
import { autostartDesktopEntry } from './start-at-login';

test('autostart entry runs the tray quietly', () => {
  const e = autostartDesktopEntry('/opt/Tapgate/tapgate-tray', ['--hidden']);
  assert.match(e, /^\[Desktop Entry\]\n/);
  assert.match(e, /\nExec=\/opt\/Tapgate\/tapgate-tray --hidden\n/);
  assert.match(e, /\nTerminal=false\n/);
});

test('paths with spaces and shell characters are quoted per the Desktop Entry spec', () => {
  const e = autostartDesktopEntry('/home/al ice/Apps/Tapgate $x.AppImage');
  assert.match(e, /\nExec="\/home\/al ice\/Apps\/Tapgate \\\$x.AppImage"\n/);
  assert.match(autostartDesktopEntry('/a/100%'), /Exec=\/a\/100%%/);
});
