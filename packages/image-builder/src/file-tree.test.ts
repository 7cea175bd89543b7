import { chmodSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema } from '@tars/core';
import { newBuildContext, writeFileTreeArchive } from './build.js';
import { buildFileTree, decodeFileTree } from './file-tree.js';

/** A tree with files, a nested directory, an executable and an in-tree symlink; `order` flips creation order. */
function tree(order: 'forward' | 'reverse', mtime: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'tars-tree-'));
  const steps = [
    () => mkdirSync(join(dir, 'etc', 'conf.d'), { recursive: true }),
    () => writeFileSync(join(dir, 'etc', 'x'), 'hello\n'),
    () => writeFileSync(join(dir, 'etc', 'conf.d', 'a.json'), '{"a":1}'),
    () => {
      writeFileSync(join(dir, 'run.sh'), '#!/bin/sh\n');
      chmodSync(join(dir, 'run.sh'), 0o700);
    },
    () => symlinkSync('etc/x', join(dir, 'link')),
  ];
  if (order === 'reverse') [steps[1], steps[3]] = [steps[3]!, steps[1]!];
  for (const s of steps) s();
  for (const p of ['etc/x', 'run.sh', 'etc/conf.d/a.json']) utimesSync(join(dir, p), mtime, mtime);
  return dir;
}

describe('file tree archives (TARSFS01)', () => {
  it('the same tree gives the same bytes whatever the times and creation order', () => {
    const a = buildFileTree(tree('forward', 1_000_000));
    const b = buildFileTree(tree('reverse', 2_000_000));
    expect(a.equals(b)).toBe(true);
    expect(a.toString('latin1', 0, 8)).toBe('TARSFS01');
  });

  it('round-trips: sorted paths, contents, modes, page-aligned file data', () => {
    const buf = buildFileTree(tree('forward', 0));
    const entries = decodeFileTree(buf);
    expect(entries.map((e) => e.path)).toEqual(['', 'etc', 'etc/conf.d', 'etc/conf.d/a.json', 'etc/x', 'link', 'run.sh']);
    expect(entries.find((e) => e.path === 'etc/x')?.data.toString()).toBe('hello\n');
    expect(entries.find((e) => e.path === 'link')).toMatchObject({ kind: 'symlink', mode: 0o777 });
    expect(entries.find((e) => e.path === 'run.sh')?.mode).toBe(0o755);
    expect(entries.find((e) => e.path === 'etc/x')?.mode).toBe(0o644);
    for (let i = 0; i < entries.length; i++) {
      const o = 72 + i * 40;
      if (buf.readUInt8(o) === 1) expect(Number(buf.readBigUInt64LE(o + 24)) % 4096).toBe(0);
    }
  });

  it('a changed byte is caught by the hash', () => {
    const buf = buildFileTree(tree('forward', 0));
    buf[buf.length - 1] = buf[buf.length - 1]! ^ 1;
    expect(() => decodeFileTree(buf)).toThrow(/sha256 mismatch/);
  });

  it('refuses symlinks out of the tree and absolute symlinks, naming the path', () => {
    const up = mkdtempSync(join(tmpdir(), 'tars-tree-'));
    mkdirSync(join(up, 'a'));
    symlinkSync('../../etc/passwd', join(up, 'a', 'escape'));
    expect(() => buildFileTree(up)).toThrow(/a\/escape: symlink out of the tree \(\.\.\/\.\.\/etc\/passwd\)/);
    const abs = mkdtempSync(join(tmpdir(), 'tars-tree-'));
    symlinkSync('/etc/passwd', join(abs, 'pw'));
    expect(() => buildFileTree(abs)).toThrow(/pw: symlink to an absolute path/);
    // Inside the tree, `..` is fine.
    const ok = mkdtempSync(join(tmpdir(), 'tars-tree-'));
    mkdirSync(join(ok, 'a'));
    writeFileSync(join(ok, 'b'), 'b');
    symlinkSync('../b', join(ok, 'a', 'b'));
    expect(decodeFileTree(buildFileTree(ok)).map((e) => e.path)).toEqual(['', 'a', 'a/b', 'b']);
  });
});

describe('a project rootfs/ in the build', () => {
  it('is planned as the tree rootfs when a Linux agent has no files of its own, and written to .tars/file-trees before assembly', () => {
    const root = mkdtempSync(join(tmpdir(), 'tars-proj-'));
    const config = configSchema.parse({ agents: [{ name: 'prog', lang: 'elf', path: 'bin/prog', args: ['prog', 'x'] }] });
    expect(newBuildContext(config, root).plan.fileTrees).toEqual([]);
    mkdirSync(join(root, 'rootfs', 'etc'), { recursive: true });
    writeFileSync(join(root, 'rootfs', 'etc', 'x'), 'x');
    const plan = newBuildContext(config, root).plan;
    expect(plan.fileTrees).toEqual([{ name: 'rootfs', dir: 'rootfs', source: '.tars/file-trees/rootfs.tarsfs' }]);
    expect(plan.boot.modules.map((m) => m.args)).toEqual(['name=rootfs tree=rootfs', 'name=prog version=0.1.0 prio=3 abi=linux argv=prog+x']);
    const size = writeFileTreeArchive(root, plan.fileTrees[0]!);
    const written = readFileSync(join(root, '.tars', 'file-trees', 'rootfs.tarsfs'));
    expect(written.length).toBe(size);
    expect(written.equals(buildFileTree(join(root, 'rootfs')))).toBe(true);
  });
});
