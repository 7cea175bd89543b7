/**
 * scripts/build.sh `agent NAME CRATE_DIR`: which package and binary it asks cargo for, read from the
 * crate's Cargo.toml, and which crate directories it refuses. cargo, objcopy and strip are stubs
 * that record their arguments, so this runs without a Rust toolchain.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BUILD_SH = fileURLToPath(new URL('../scripts/build.sh', import.meta.url));

/** A workspace holding build.sh and the crates given (dir → Cargo.toml text), with stub tools on PATH. */
function workspace(crates: Record<string, string>): { dir: string; run: (...args: string[]) => { status: number | null; stderr: string; cargo: string } } {
  const dir = mkdtempSync(join(tmpdir(), 'tars-build-sh-'));
  mkdirSync(join(dir, 'scripts'));
  copyFileSync(BUILD_SH, join(dir, 'scripts', 'build.sh'));
  for (const [crate, toml] of Object.entries(crates)) {
    mkdirSync(join(dir, crate), { recursive: true });
    writeFileSync(join(dir, crate, 'Cargo.toml'), toml);
  }
  const bin = join(dir, 'stub-bin');
  mkdirSync(bin);
  const stub = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/usr/bin/env bash\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  // cargo: record the arguments, "build" the binary named by --bin.
  stub('cargo', `echo "$*" > "${dir}/cargo.args"; while [ $# -gt 0 ]; do [ "$1" = --bin ] && b="$2"; shift; done; mkdir -p "$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release"; echo elf > "$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release/$b"`);
  stub('objcopy', 'cp "${@: -2:1}" "${@: -1}"');
  stub('strip', 'cp "${@: -1}" "$3"');
  const run = (...args: string[]) => {
    const r = spawnSync('bash', [join(dir, 'scripts', 'build.sh'), ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env['PATH']}` } });
    let cargo = '';
    try {
      cargo = readFileSync(join(dir, 'cargo.args'), 'utf8');
    } catch {
      // cargo never ran
    }
    return { status: r.status, stderr: r.stderr, cargo };
  };
  return { dir, run };
}

describe('build.sh agent NAME CRATE_DIR reads the package and binary names from the crate', () => {
  it.each([
    ['name after other keys, a comment after it', '[package]\nversion = "0.1.0"\nname = "agent-x" # the crate\n', 'agent-x', 'agent-x'],
    ['single quotes (a TOML literal string)', "[package]\nname = 'agent-x'\n", 'agent-x', 'agent-x'],
    ['indented keys, tabs around =', '[package]\n  edition\t= "2021"\n  name\t=\t"agent-x"\n', 'agent-x', 'agent-x'],
    ['a [[bin]] with its own name, after [dependencies] with a name-like key', '[package]\nname = "agent-x"\n[dependencies]\nname = "not-this"\n[[bin]]\npath = "src/main.rs"\nname = "x"\n[[bin]]\nname = "second"\n', 'agent-x', 'x'],
    ['a table header with a comment', '[package] # the agent\nname = "agent-x"\n', 'agent-x', 'agent-x'],
    ['[package.metadata] is not [package]', '[package.metadata.tars]\nname = "meta"\n[package]\nname = "agent-x"\n', 'agent-x', 'agent-x'],
  ])('%s', (_what, toml, pkg, bin) => {
    const { run } = workspace({ 'agents/x': toml });
    const r = run('agent', 'renamed', 'agents/x');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.cargo).toContain(`-p ${pkg} --bin ${bin} --`);
  });

  it('refuses a manifest with no [package] name', () => {
    const { run } = workspace({ 'agents/x': '[workspace]\nname = "x"\n' });
    expect(run('agent', 'x', 'agents/x')).toMatchObject({ status: 2, stderr: expect.stringContaining('names no [package]'), cargo: '' });
  });
});

describe('build.sh agent NAME CRATE_DIR cannot leave the workspace', () => {
  it.each([
    ['an absolute path', (_d: string) => '/etc'],
    ['a .. segment', (_d: string) => 'agents/../../x'],
    ['the workspace itself', (_d: string) => '.'],
    ['a symlink out of it', (d: string) => (symlinkSync(mkdtempSync(join(tmpdir(), 'tars-out-')), join(d, 'agents', 'out')), 'agents/out')],
  ])('refuses %s', (_what, crate) => {
    const { dir, run } = workspace({ 'agents/x': '[package]\nname = "agent-x"\n', '.': '[package]\nname = "tars-kernel"\n' });
    const target = crate(dir);
    if (target === 'agents/out') writeFileSync(join(dir, 'agents', 'out', 'Cargo.toml'), '[package]\nname = "agent-x"\n');
    const r = run('agent', 'x', target);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('must be inside the workspace');
    expect(r.cargo).toBe('');
  });
});

