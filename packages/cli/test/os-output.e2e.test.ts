import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyProject } from './project.js';
import { outputTail, tarscli } from './helpers.js';

describe('os build --output never deletes user data', () => {
  it('refuses a directory of user files before building anything, in text and --json', async () => {
    const dir = copyProject();
    const docs = join(dir, 'docs');
    mkdirSync(docs);
    writeFileSync(join(docs, 'thesis.tex'), 'years of work');
    const r = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--output', docs, '--json'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(2);
    expect(r.json).toMatchObject({ status: 2, code: 'USAGE', exitCode: 2 });
    expect(r.json.message).toMatch(/^Refusing to write the image to .*docs: it holds other files \(thesis\.tex\) and no image/);
    expect(readFileSync(join(docs, 'thesis.tex'), 'utf8')).toBe('years of work');
    expect(existsSync(join(dir, '.tars', 'cache'))).toBe(false);

    const self = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--output', '.'], { cwd: dir });
    expect(self.exitCode, outputTail(self)).toBe(2);
    expect(self.stderr).toMatch(/Refusing to write the image to .*: it is the project directory or contains it/);
    expect(existsSync(join(dir, 'tars.config.json'))).toBe(true);
  });
});

describe('two os build in one checkout', () => {
  it('the second one exits CHECK_FAILED (7, CONFLICT) while the first holds the build lock, touching nothing', async () => {
    const dir = copyProject();
    const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    await once(holder, 'spawn');
    try {
      mkdirSync(join(dir, '.tars'));
      writeFileSync(join(dir, '.tars', 'build.lock'), JSON.stringify({ pid: holder.pid, host: hostname(), startedAt: '2026-01-01T00:00:00.000Z' }));
      const r = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: dir });
      expect(r.exitCode, outputTail(r)).toBe(7);
      expect(r.json).toMatchObject({ status: 7, code: 'CONFLICT', message: `Another os build (pid ${holder.pid}, started 2026-01-01T00:00:00.000Z) is running in this checkout` });
      expect(existsSync(join(dir, 'dist'))).toBe(false);
      expect(existsSync(join(dir, '.tars', 'cache'))).toBe(false);
    } finally {
      holder.kill('SIGKILL');
    }
  });
});
