/** `agent list` judges build status by the cache key, as `os build` does, never by file times. */
import { appendFileSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyProject } from './project.js';
import { outputTail, tarscli } from './helpers.js';

const states = async (dir: string) =>
  Object.fromEntries((await tarscli(['agent', 'list', '--json'], { cwd: dir })).json.result.agents.map((a: { name: string; build: string }) => [a.name, a.build]));

describe('agent list build status', () => {
  it('not built → built; a touched but unchanged source stays built; a changed one is stale', async () => {
    const dir = copyProject();
    expect(await states(dir)).toEqual({ pong: 'not built', ping: 'not built' });
    const built = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: dir, env: { TARS_EXECUTOR_DEFAULT: 'host' } });
    expect(built.exitCode, outputTail(built)).toBe(0);
    const host = { TARS_EXECUTOR_DEFAULT: 'host' };
    const list = async () => Object.fromEntries((await tarscli(['agent', 'list', '--json'], { cwd: dir, env: host })).json.result.agents.map((a: { name: string; build: string }) => [a.name, a.build]));
    expect(await list()).toEqual({ pong: 'built', ping: 'built' });
    // A newer file time with the same content (a checkout, a cache-hit build) is not a change.
    const main = join(dir, 'packages/kernel-rs/agents/pong/src/main.rs');
    const later = new Date(Date.now() + 60_000);
    utimesSync(main, later, later);
    expect(await list()).toEqual({ pong: 'built', ping: 'built' });
    appendFileSync(main, '\n// changed\n');
    expect(await list()).toEqual({ pong: 'stale', ping: 'built' });
    // Back to the built content: built again (the cache holds that key).
    writeFileSync(main, readFileSync(main, 'utf8').replace('\n// changed\n', ''));
    expect(await list()).toEqual({ pong: 'built', ping: 'built' });
  });
});
