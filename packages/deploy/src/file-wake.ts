/**
 * Wake a polling loop when a file changes (inotify through fs.watch) instead of after a fixed
 * sleep: the events file's `ready` line is seen when it is written, not up to a poll interval
 * later. The sleep stays as the fallback (a file not created yet, a filesystem without
 * notifications), so a missed notification costs at most `ms`.
 */
import { watch, type FSWatcher } from 'node:fs';

export class FileWake {
  private watcher: FSWatcher | undefined;
  private changed = false;
  private wake: ((changed: boolean) => void) | undefined;

  constructor(private readonly path: string) {}

  /** Resolves on the next change of the file (true), or after `ms` (false). */
  wait(ms: number): Promise<boolean> {
    this.arm();
    if (this.changed) {
      this.changed = false;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(false), ms);
      const done = (changed: boolean): void => {
        clearTimeout(timer);
        this.wake = undefined;
        this.changed = false;
        resolve(changed);
      };
      this.wake = done;
    });
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  private arm(): void {
    if (this.watcher) return;
    try {
      this.watcher = watch(this.path, { persistent: false }, () => {
        this.changed = true;
        this.wake?.(true);
      });
      this.watcher.on('error', () => this.close());
    } catch {
      // Not there yet (QEMU creates it while starting): the timer covers this round.
    }
  }
}
