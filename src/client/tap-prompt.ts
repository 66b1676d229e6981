import { spawn } from 'node:child_process';
import type { PendingTap } from './agent-types';

export type TapPromptCloseReason = 'verified' | 'cancelled' | 'timeout' | 'error';

/**
 * Asks the person for a tap. The prompt only asks: the ceremony runs on the gate's tap page
 * (tapUrl). The CLI prints the URL and opens the browser; the tray shows its own window.
 */
export interface TapPrompt {
  show(p: PendingTap): void;
  close(reason: TapPromptCloseReason): void;
}

/** Opens a URL in the default browser; false when no opener could be started. Never throws. */
export function openBrowser(url: string): Promise<boolean> {
  const [cmd, args] =
    process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '""', url]] : ['xdg-open', [url]];
  return new Promise((resolve) => {
    try {
      const child = spawn(cmd, args as string[], { stdio: 'ignore', detached: true, windowsHide: true });
      child.once('error', () => resolve(false));
      child.once('spawn', () => {
        child.unref();
        resolve(true);
      });
    } catch {
      resolve(false);
    }
  });
}

const CLOSE_LINES: Record<TapPromptCloseReason, string> = {
  verified: 'Tapgate: verified, carrying on.',
  cancelled: 'Tapgate: tap request cancelled.',
  timeout: 'Tapgate: nobody tapped in time; held requests were answered with an error.',
  error: 'Tapgate: the tap request failed (see above).',
};

/** The terminal's prompt: prints the tap URL and, unless told not to, opens the browser. */
export class CliTapPrompt implements TapPrompt {
  private shownId: string | undefined;

  constructor(
    private readonly opts: { write?: (line: string) => void; openBrowser?: boolean } = {},
  ) {}

  show(p: PendingTap): void {
    if (this.shownId === p.id) return;
    this.shownId = p.id;
    const write = this.opts.write ?? ((l: string) => process.stderr.write(`${l}\n`));
    const waiting = p.held.length ? ` (${p.held.length} request${p.held.length > 1 ? 's' : ''} waiting: ${p.held.map((h) => h.summary).slice(0, 3).join(', ')})` : '';
    write(`Tapgate: tap your security key to open ${p.clusters.join(', ')}${waiting}`);
    write(`  ${p.tapUrl}`);
    if (this.opts.openBrowser !== false) {
      void openBrowser(p.tapUrl).then((ok) => {
        if (!ok) write('  (could not open a browser; open the link above yourself)');
      });
    }
  }

  close(reason: TapPromptCloseReason): void {
    if (!this.shownId) return;
    this.shownId = undefined;
    (this.opts.write ?? ((l: string) => process.stderr.write(`${l}\n`)))(CLOSE_LINES[reason]);
  }
}
