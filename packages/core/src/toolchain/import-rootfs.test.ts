import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dockerClient, inspectImage } from '../docker.js';
import { importRootfs } from './bootstrap.js';

// Real Docker engine; names unique to this run, removed afterwards.
const repo = `tars-test-import-${process.pid}`;
const remove = (name: string) => dockerClient().getImage(name).remove({ force: true }).catch(() => undefined);

describe('importRootfs: no half image under the final name', () => {
  afterAll(async () => {
    for (const t of ['ok', 'cut', 'cancelled', `ok-partial-${process.pid}`, `cut-partial-${process.pid}`, `cancelled-partial-${process.pid}`]) await remove(`${repo}:${t}`);
  });

  it('imports a whole rootfs under its name, with no partial tag left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tars-rootfs-'));
    writeFileSync(join(dir, 'hello'), 'hi\n');
    await importRootfs(dir, `${repo}:ok`, undefined, undefined, 'recipe-1');
    expect((await inspectImage(`${repo}:ok`))?.labels['dev.tars.recipe']).toBe('recipe-1');
    expect(await inspectImage(`${repo}:ok-partial-${process.pid}`)).toBeUndefined();
  });

  it('a tar that fails (nothing or part of the rootfs sent) leaves no image under the final name', async () => {
    await expect(importRootfs(join(tmpdir(), 'no-such-rootfs-tars'), `${repo}:cut`, undefined, undefined, 'recipe-1')).rejects.toThrow();
    expect(await inspectImage(`${repo}:cut`)).toBeUndefined();
    expect(await inspectImage(`${repo}:cut-partial-${process.pid}`)).toBeUndefined();
  });

  it('Ctrl-C (an aborted signal) leaves no image under the final name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tars-rootfs-'));
    writeFileSync(join(dir, 'hello'), 'hi\n');
    const ac = new AbortController();
    ac.abort();
    await expect(importRootfs(dir, `${repo}:cancelled`, ac.signal, undefined, 'recipe-1')).rejects.toThrow();
    expect(await inspectImage(`${repo}:cancelled`)).toBeUndefined();
    expect(await inspectImage(`${repo}:cancelled-partial-${process.pid}`)).toBeUndefined();
  });
});
