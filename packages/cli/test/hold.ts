/**
 * Holds a build step at a point the test can observe, so that a test that interrupts a build
 * (SIGKILL, SIGINT) does so while the step's toolchain child is running, never on a timer.
 *
 * The project copy's build script is wrapped: each run of it records its pid, then blocks reading a
 * FIFO that nobody writes, until the test kills it. The test waits for a pid file to appear.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface StepHold {
  /** Resolves with the held step's pid once the step is running inside its executor. */
  started: Promise<number>;
  /** Kills every held run (those still there) and restores the original build script. */
  restore(): void;
}

export function holdBuildScript(script: string): StepHold {
  const original = readFileSync(script, 'utf8');
  const dir = mkdtempSync(join(tmpdir(), 'tars-hold-'));
  const fifo = join(dir, 'release');
  execFileSync('mkfifo', [fifo]);
  // Inserted after the shebang: the step is running (its executor spawned it) when the pid appears.
  const [shebang, ...rest] = original.split('\n');
  const hold = [`echo $$ > '${dir}/.tmp.$$' && mv '${dir}/.tmp.$$' '${dir}/pid.'$$`, `read -r _ < '${fifo}'`];
  writeFileSync(script, [shebang, ...hold, ...rest].join('\n'));

  const pids = (): number[] =>
    readdirSync(dir)
      .filter((n) => n.startsWith('pid.'))
      .map((n) => Number(n.slice(4)));
  const started = new Promise<number>((resolve) => {
    const check = (): void => {
      const [first] = pids();
      if (first === undefined) return;
      watcher.close();
      resolve(first);
    };
    const watcher = watch(dir, check);
    check();
  });

  return {
    started,
    restore() {
      for (const pid of pids()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone: the build that ran it was cancelled and took it down
        }
      }
      writeFileSync(script, original);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
