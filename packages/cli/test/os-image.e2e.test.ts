import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { OVMF_CODE, OVMF_VARS, specFromManifest, startQemu } from '@tars/deploy';
import { copyProject } from './project.js';
import { outputTail, tarscli } from './helpers.js';

async function bootToReady(imageDir: string, firmware: 'bios' | 'uefi'): Promise<Record<string, unknown>> {
  const m = JSON.parse(readFileSync(join(imageDir, 'manifest.json'), 'utf8'));
  const run = mkdtempSync(join(tmpdir(), `tars-boot-${firmware}-`));
  const vars = join(run, 'vars.fd');
  if (firmware === 'uefi') copyFileSync(OVMF_VARS, vars);
  const q = startQemu({ ...(await specFromManifest(m, imageDir)), accel: 'tcg', memoryMb: 256, firmware }, run, firmware === 'uefi' ? { ovmf: { code: OVMF_CODE, vars } } : {});
  try {
    return await q.waitFor((e) => e.ev === 'ready', { timeoutMs: 120_000 });
  } finally {
    await q.stop();
  }
}

describe('full images through the docker executor', () => {
  let dir: string;
  beforeAll(async () => {
    // Builder images are made locally (nothing can be pulled); a no-op when they exist.
    const boot = await tarscli(['toolchain', 'bootstrap', '--only', 'base,rust', '--json']);
    expect(boot.exitCode, outputTail(boot)).toBe(0);
    dir = copyProject();
  }, 600_000);

  it('builds an iso in the builder containers, and the bytes match a host build', async () => {
    const r = await tarscli(['os', 'build', '--format', 'iso', '--executor', 'docker', '--json'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(0);
    const m = r.json.result;
    expect(m.build.components.map((c: { executor: string }) => c.executor)).toEqual(['docker', 'docker', 'docker']);
    expect(m.boot.firmware).toEqual(['bios', 'uefi']);
    const host = copyProject();
    const h = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: host });
    expect(h.exitCode, outputTail(h)).toBe(0);
    const shas = (x: { components: { id: string; outputs: { sha256: string }[] }[] }) => x.components.map((c) => [c.id, c.outputs[0]?.sha256]);
    expect(shas(h.json.result)).toEqual(shas(m));
  });

  it('boots the iso with SeaBIOS and with OVMF (UEFI) to ready', async () => {
    expect(await bootToReady(join(dir, 'dist', 'iso'), 'bios')).toMatchObject({ tasks: 2 });
    expect(await bootToReady(join(dir, 'dist', 'iso'), 'uefi')).toMatchObject({ tasks: 2 });
  });

  it('builds a raw GPT disk from the cache and boots it with SeaBIOS and OVMF', async () => {
    const r = await tarscli(['os', 'build', '--format', 'raw', '--json'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.json.result.build.components.map((c: { executor: string }) => c.executor)).toEqual(['cache', 'cache', 'cache']);
    const img = readFileSync(join(dir, 'dist', 'raw', r.json.result.files[0].path));
    expect(img.subarray(512, 520).toString('latin1')).toBe('EFI PART');
    expect(img.readUInt16LE(510)).toBe(0xaa55);
    const ins = await tarscli(['os', 'inspect', join(dir, 'dist', 'raw'), '--json'], { cwd: dir });
    expect(ins.json.result.ok).toBe(true);
    // the image file, the kernel and two modules inside it, and three debug files beside it
    expect(ins.json.result.checks.length).toBe(7);
    expect(await bootToReady(join(dir, 'dist', 'raw'), 'bios')).toMatchObject({ tasks: 2 });
    expect(await bootToReady(join(dir, 'dist', 'raw'), 'uefi')).toMatchObject({ tasks: 2 });
  });

  it('--verify-reproducible builds twice from clean caches and finds identical images', async () => {
    const r = await tarscli(['os', 'build', '--format', 'iso', '--executor', 'host', '--verify-reproducible', '--json'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.json.result).toMatchObject({ identical: true, firstDifference: null, format: 'iso' });
  });
});
