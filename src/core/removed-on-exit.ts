import { promises as fs, unlinkSync } from 'node:fs';

/** A file its owner removes when done with it, or that goes at the latest when the process exits. */
export class RemovedOnExit {
  private removed = false;
  private readonly onExit = () => this.removeSync();

  constructor(readonly path: string) {
    process.once('exit', this.onExit);
  }

  async remove(): Promise<void> {
    if (this.removed) return;
    this.removed = true;
    process.removeListener('exit', this.onExit);
    await fs.rm(this.path, { force: true });
  }

  private removeSync(): void {
    if (this.removed) return;
    this.removed = true;
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}
