import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { outputTail } from '@tars/core';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('agent ABI: one definition, generated bindings', () => {
  it('the generated files match abi/agent-abi.json (drift test)', async () => {
    const r = await execa('node', ['scripts/generate.mjs', '--check'], { cwd: root, reject: false });
    expect(r.stderr).toBe('');
    expect(r.exitCode, outputTail(r)).toBe(0);
  });

  it('the C header compiles and its static layout asserts hold', async () => {
    const r = await execa('cc', ['-std=c11', '-Wall', '-Werror', '-fsyntax-only', '-x', 'c', 'generated/tars_agent.h'], { cwd: root, reject: false });
    expect(r.stderr).toBe('');
    expect(r.exitCode, outputTail(r)).toBe(0);
  });

  it('the Rust bindings compile and their const layout asserts hold', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'tars-abi-')), 'abi.rlib');
    const r = await execa('rustc', ['--edition', '2021', '--crate-type', 'lib', '--crate-name', 'tars_abi', '-o', out, 'generated/abi.rs'], { cwd: root, reject: false });
    expect(r.stderr).toBe('');
    expect(r.exitCode, outputTail(r)).toBe(0);
  });

  it.each([
    ['C#', 'test/cs', 'C# bindings match the ABI'],
    ['F#', 'test/fs', 'F# bindings match the ABI'],
  ])('the %s bindings compile and match the ABI layout', async (_lang, dir, message) => {
    const r = await execa('dotnet', ['run', '--nologo'], { cwd: join(root, dir), reject: false, env: { DOTNET_CLI_TELEMETRY_OPTOUT: '1', DOTNET_NOLOGO: '1' } });
    expect(r.stdout.trim().split('\n').pop()).toBe(message);
    expect(r.exitCode, outputTail(r)).toBe(0);
  });

  it('a changed definition is detected as drift', async () => {
    const { readFileSync, writeFileSync, cpSync } = await import('node:fs');
    const copy = mkdtempSync(join(tmpdir(), 'tars-abi-drift-'));
    cpSync(root, copy, { recursive: true, filter: (s) => !/\/(bin|obj|node_modules)(\/|$)/.test(s) });
    const abiPath = join(copy, 'abi/agent-abi.json');
    const abi = JSON.parse(readFileSync(abiPath, 'utf8'));
    abi.structs[0].fields.push({ name: 'stride', type: 'u64', doc: 'new field' });
    writeFileSync(abiPath, JSON.stringify(abi));
    const r = await execa('node', ['scripts/generate.mjs', '--check'], { cwd: copy, reject: false });
    expect(r.exitCode, outputTail(r)).toBe(1);
    expect(r.stderr).toContain('ABI drift: generated/tars_agent.h does not match abi/agent-abi.json');
  });
});
