import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { outputTail, tarscli } from './helpers.js';

function emptyProject(config?: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tars-e2e-'));
  if (config) writeFileSync(join(dir, 'tars.config.json'), JSON.stringify(config));
  return dir;
}

describe('tarscli (built binary)', () => {
  it('--help lists the implemented topics and commands only', async () => {
    const r = await tarscli(['--help']);
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.stdout).toContain('doctor');
    expect(r.stdout).toContain('config');
    expect(r.stdout).toContain('toolchain');
  });

  it('--version prints the version', async () => {
    const r = await tarscli(['--version']);
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.stdout).toMatch(/^@tars\/cli\/0\.1\.0 linux-x64 node-v\d+/);
  });

  it('doctor --json returns the envelope with every check', async () => {
    const r = await tarscli(['doctor', '--json'], { cwd: emptyProject() });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.json.status).toBe(0);
    expect(r.json.result.ok).toBe(true);
    expect(Array.isArray(r.json.warnings)).toBe(true);
    const ids = r.json.result.checks.map((c: { id: string }) => c.id);
    expect(ids).toEqual(expect.arrayContaining(['node', 'cargo', 'qemu', 'kvm', 'docker', 'grub-mkrescue', 'xorriso', 'disk', 'image-rust']));
    for (const c of r.json.result.checks) expect(['ok', 'warn', 'fail']).toContain(c.status);
    expect(r.stderr).toBe('');
  });

  it('config show --json reports values and their sources', async () => {
    const dir = emptyProject({ image: { format: 'raw' } });
    const r = await tarscli(['config', 'show', '--json'], { cwd: dir, env: { TARS_QEMU_ACCEL: 'tcg' } });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.json.result.config.image.format).toBe('raw');
    expect(r.json.result.sources['image.format']).toBe('tars.config.json');
    expect(r.json.result.sources['qemu.accel']).toBe('env TARS_QEMU_ACCEL');
    expect(r.json.result.sources['cache.dir']).toBe('default');
  });

  it('config show prints a table for a person', async () => {
    const r = await tarscli(['config', 'show'], { cwd: emptyProject() });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.stdout).toMatch(/image\.format\s+"iso"\s+default/);
  });

  it('an invalid config is one clear error with exit code 3', async () => {
    const dir = emptyProject({ qemu: { accel: 'hvf' } });
    const r = await tarscli(['config', 'show'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(3);
    expect(r.stderr).toContain('tars.config.json [qemu.accel]: expected one of auto, kvm, tcg (got: "hvf")');
    expect(r.stdout).toBe('');
  });

  it('--json errors are flat like sf-plugins-core: status, name, message, code, exitCode, actions', async () => {
    const dir = emptyProject({ qemu: { accel: 'hvf' } });
    const r = await tarscli(['config', 'show', '--json'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(3);
    expect(r.json).toMatchObject({ status: 3, name: 'ConfigInvalidError', code: 'CONFIG_INVALID', exitCode: 3, actions: [expect.stringContaining('config show')] });
    expect(r.json.error).toBeUndefined();
  });

  it('an unknown flag is a usage error (exit 2)', async () => {
    const r = await tarscli(['doctor', '--frobnicate', '--json']);
    expect(r.exitCode, outputTail(r)).toBe(2);
    expect(r.json.code).toBe('USAGE');
    expect(r.json.message).toContain('--frobnicate');
  });

  it('toolchain bootstrap rejects an unknown toolchain', async () => {
    const r = await tarscli(['toolchain', 'bootstrap', '--only', 'cobol', '--json'], { cwd: emptyProject() });
    expect(r.exitCode, outputTail(r)).toBe(2);
    expect(r.json.message).toBe('Unknown toolchain cobol; expected one of base, rust, dotnet, cuda');
  });

  it('toolchain list --json names each configured image', async () => {
    const r = await tarscli(['toolchain', 'list', '--json'], { cwd: emptyProject({ toolchains: { cuda: { image: 'nvidia/cuda:12', optional: true } } }) });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.json.result.engine).toBe(true);
    const cuda = r.json.result.toolchains.find((t: { toolchain: string }) => t.toolchain === 'cuda');
    expect(cuda).toMatchObject({ image: 'nvidia/cuda:12', present: false, optional: true });
  });
});
