import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, realpathSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema } from '@tars/core';
import { checkSources, findSourceIssues } from './sources.js';
import { createBuildPlan } from './plan.js';

/** A project with a kernel workspace holding the crates `crates` (relative to kernel/). */
function project(crates: string[]): string {
  const root = mkdtempSync(join(tmpdir(), 'tars-sources-'));
  mkdirSync(join(root, 'kernel', 'scripts'), { recursive: true });
  writeFileSync(join(root, 'kernel', 'scripts', 'build.sh'), '');
  writeFileSync(join(root, 'kernel', 'Cargo.toml'), `[workspace]\nmembers = [${crates.map((c) => `"${c}"`).join(', ')}]\n`);
  for (const c of crates) {
    mkdirSync(join(root, 'kernel', c), { recursive: true });
    writeFileSync(join(root, 'kernel', c, 'Cargo.toml'), `[package]\nname = "agent-x"\n`);
  }
  return root;
}

describe('config paths are checked against the project before any step runs', () => {
  it('names the key of every missing or wrong path at once', () => {
    const root = project(['agents/pong']);
    mkdirSync(join(root, 'kernel', 'agents', 'stray'), { recursive: true });
    writeFileSync(join(root, 'kernel', 'agents', 'stray', 'Cargo.toml'), '[package]\nname = "agent-stray"\n');
    writeFileSync(join(root, 'notelf'), 'text');
    const config = configSchema.parse({
      kernel: { path: 'kernel' },
      agents: [
        { name: 'pong', lang: 'rust', path: 'kernel/agents/pong' },
        { name: 'gone', lang: 'rust', path: 'kernel/agents/gone' },
        { name: 'cs-bot', lang: 'csharp', path: 'agents/cs-bott' },
        { name: 'stray', lang: 'rust', path: 'kernel/agents/stray' },
        { name: 'outside', lang: 'rust', path: 'kernel' },
        { name: 'blob', lang: 'elf', path: 'notelf' },
      ],
    });
    const issues = findSourceIssues(config, root);
    expect(issues.map((i) => i.key)).toEqual(['dotnet.path', 'agents.1.path', 'agents.2.path', 'agents.3.path', 'agents.4.path', 'agents.5.path']);
    expect(issues.find((i) => i.key === 'agents.3.path')?.message).toContain('not a member of the kernel workspace');
    expect(() => checkSources(config, root, join(root, 'tars.config.json'))).toThrow(/tars\.config\.json \[agents\.1\.path\]: no such directory \(agent gone\) \(got: "kernel\/agents\/gone"\)/);
  });

  it('reads a members list whose comment holds a ] (it does not end the list)', () => {
    const root = project(['agents/pong']);
    writeFileSync(join(root, 'kernel', 'Cargo.toml'), '[workspace]\nmembers = [\n  "crates/kcore", # the [no_std] core\n  "./agents/pong/",\n]\n');
    const config = configSchema.parse({ kernel: { path: 'kernel' }, agents: [{ name: 'pong', lang: 'rust', path: 'kernel/agents/pong' }] });
    expect(findSourceIssues(config, root)).toEqual([]);
  });

  it('reports a kernel path that is not a workspace', () => {
    const root = mkdtempSync(join(tmpdir(), 'tars-sources-'));
    const issues = findSourceIssues(configSchema.parse({ kernel: { path: 'nowhere' } }), root);
    expect(issues).toEqual([{ key: 'kernel.path', message: 'no such directory', got: 'nowhere' }]);
  });

  it('builds a Rust agent from its path, named by its name: a renamed agent keeps its crate', () => {
    const config = configSchema.parse({ kernel: { path: 'kernel' }, agents: [{ name: 'scout-two', lang: 'rust', path: 'kernel/agents/scout' }] });
    const step = createBuildPlan(config).steps.find((s) => s.id === 'agent:scout-two');
    expect(step?.command).toEqual(['bash', 'kernel/scripts/build.sh', 'agent', 'scout-two', 'agents/scout']);
    expect(step?.outputs[0]).toBe('kernel/out/agents/scout-two.elf');
  });

  it('refuses two agents with one name (the second would silently replace the first)', () => {
    const r = configSchema.safeParse({ agents: [{ name: 'pong', lang: 'rust', path: 'a' }, { name: 'pong', lang: 'rust', path: 'b' }] });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]).toMatchObject({ path: ['agents', 1, 'name'], message: expect.stringContaining('agents.0 already has this name') });
  });
});

describe('what a malicious or mistaken config can make the source check do', () => {
  it('an elf agent that is a FIFO is refused without being opened (opening it would wait for a writer forever)', () => {
    const root = project([]);
    execFileSync('mkfifo', [join(root, 'blob')]);
    const config = configSchema.parse({ kernel: { path: 'kernel' }, agents: [{ name: 'blob', lang: 'elf', path: 'blob' }] });
    expect(findSourceIssues(config, root)).toEqual([{ key: 'agents.0.path', message: expect.stringContaining('not a regular file (a FIFO, socket or device)'), got: 'blob' }]);
  });

  it.runIf(process.getuid?.() !== 0)('an elf agent that cannot be read is an issue, not a crash', () => {
    const root = project([]);
    writeFileSync(join(root, 'blob'), '\x7fELF');
    chmodSync(join(root, 'blob'), 0);
    const config = configSchema.parse({ kernel: { path: 'kernel' }, agents: [{ name: 'blob', lang: 'elf', path: 'blob' }] });
    expect(findSourceIssues(config, root)).toEqual([{ key: 'agents.0.path', message: expect.stringContaining('cannot be read (EACCES)'), got: 'blob' }]);
  });

  it('a huge kernel Cargo.toml is not read into memory', () => {
    const root = project([]);
    truncateSync(join(root, 'kernel', 'Cargo.toml'), 3 * 2 ** 30); // sparse: 3 GiB, more than readFileSync can hold
    const issues = findSourceIssues(configSchema.parse({ kernel: { path: 'kernel' } }), root);
    expect(issues).toEqual([{ key: 'kernel.path', message: expect.stringContaining('its Cargo.toml is 3221225472 bytes'), got: 'kernel' }]);
  });

  it('paths that a symlink inside the project takes outside it are refused, naming where they lead', () => {
    const outsideDir = mkdtempSync(join(tmpdir(), 'tars-outside-'));
    const elsewhere = project(['agents/pong']);
    const root = project(['agents/pong']);
    symlinkSync(outsideDir, join(root, 'ext'));
    symlinkSync(join(elsewhere, 'kernel'), join(root, 'kernel-link'));
    writeFileSync(join(outsideDir, 'blob'), '\x7fELF');
    mkdirSync(join(outsideDir, 'cs'));
    writeFileSync(join(outsideDir, 'cs', 'x.csproj'), '<Project/>');
    const config = configSchema.parse({
      kernel: { path: 'kernel-link' },
      agents: [
        { name: 'blob', lang: 'elf', path: 'ext/blob' },
        { name: 'cs', lang: 'csharp', path: 'ext/cs' },
        { name: 'pong', lang: 'rust', path: 'kernel/agents/pong' },
      ],
    });
    const issues = findSourceIssues(config, root);
    expect(issues.map((i) => i.key)).toEqual(['kernel.path', 'dotnet.path', 'agents.0.path', 'agents.1.path', 'agents.2.path']);
    expect(issues[0]?.message).toBe(`leads outside the project (to ${realpathSync(join(elsewhere, 'kernel'))}); a build sees only the project's files`);
    expect(issues[2]?.message).toContain(`leads outside the project (to ${realpathSync(outsideDir)}/blob)`);
  });

  it("an agent's file tree must be a directory of the project without symlinks out of it; the error names agents.N.files", () => {
    const root = project(['agents/pong']);
    writeFileSync(join(root, 'prog'), '\x7fELF');
    mkdirSync(join(root, 'tree', 'etc'), { recursive: true });
    symlinkSync('../../../secret', join(root, 'tree', 'etc', 'escape'));
    const config = configSchema.parse({
      kernel: { path: 'kernel' },
      agents: [
        { name: 'pong', lang: 'rust', path: 'kernel/agents/pong' },
        { name: 'aa', lang: 'elf', path: 'prog', files: 'tree' },
        { name: 'bb', lang: 'elf', path: 'prog', files: 'missing' },
      ],
    });
    const issues = findSourceIssues(config, root);
    expect(issues.map((i) => `${i.key}: ${i.message}`)).toEqual([
      'agents.1.files: etc/escape: symlink out of the tree (../../../secret) (the file tree of agent aa)',
      'agents.2.files: no such directory (the file tree of agent bb)',
    ]);
    expect(() => checkSources(config, root, join(root, 'tars.config.json'))).toThrow(/tars\.config\.json \[agents\.1\.files\]: etc\/escape: symlink out of the tree/);
  });
});
