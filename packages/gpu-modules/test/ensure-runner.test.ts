/** os simulate's runner: rebuilt from the sources beside it only when missing or older than them. */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureRunner, runnerPath } from '../src/simulate.js';

/** GPU sources whose scripts/build.sh only records that it ran (and writes the runner). */
function gpuSources(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tars-gpu-src-'));
  mkdirSync(join(dir, 'runner'));
  mkdirSync(join(dir, 'scripts'));
  mkdirSync(join(dir, 'out'));
  writeFileSync(join(dir, 'runner', 'tars_gpu_runner.c'), 'int main(void) { return 0; }\n');
  writeFileSync(join(dir, 'scripts', 'build.sh'), `echo built >> "${dir}/builds"; echo runner > "${dir}/out/tars-gpu-runner"\n`);
  chmodSync(join(dir, 'scripts', 'build.sh'), 0o755);
  return dir;
}
const builds = (dir: string) => {
  try {
    return readFileSync(join(dir, 'builds'), 'utf8').trim().split('\n').length;
  } catch {
    return 0;
  }
};

describe('ensureRunner', () => {
  it('builds a missing runner, then keeps a fresh one', async () => {
    const dir = gpuSources();
    expect(await ensureRunner({ gpuPath: dir })).toBe(runnerPath(dir));
    await ensureRunner({ gpuPath: dir });
    expect(builds(dir)).toBe(1);
  });

  it('is not crashed by a dangling symlink (an editor lock file) or a link loop among the sources', async () => {
    const dir = gpuSources();
    symlinkSync('user@host.1234:1700000000', join(dir, 'runner', '.#tars_gpu_runner.c'));
    symlinkSync('.', join(dir, 'runner', 'loop'));
    await ensureRunner({ gpuPath: dir });
    expect(builds(dir)).toBe(1);
    await ensureRunner({ gpuPath: dir });
    expect(builds(dir)).toBe(1);
  });

  it('rebuilds a runner older than a source', async () => {
    const dir = gpuSources();
    await ensureRunner({ gpuPath: dir });
    const old = new Date(Date.now() - 60_000);
    utimesSync(runnerPath(dir), old, old);
    await ensureRunner({ gpuPath: dir });
    expect(builds(dir)).toBe(2);
  });
});
