import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../config/schema.js';
import { runDoctor, type Check } from './checks.js';

describe('doctor', () => {
  it('checks this machine: every required tool is present with a version', async () => {
    const report = await runDoctor({ config: defaultConfig(), root: process.cwd() });
    const byId = Object.fromEntries(report.checks.map((c) => [c.id, c]));
    for (const id of ['node', 'npm', 'rustc', 'cargo', 'qemu', 'grub-mkrescue', 'xorriso', 'mtools', 'disk', 'kvm', 'docker', 'nvcc', 'dotnet']) {
      expect(byId[id], id).toBeDefined();
    }
    expect(byId['node']).toMatchObject({ status: 'ok', version: process.versions.node });
    expect(byId['qemu']?.status).toBe('ok');
    expect(report.ok).toBe(true);
    for (const c of report.checks) if (c.status !== 'ok') expect(c.fix, `${c.id} needs a fix line`).toBeTruthy();
  });

  it('fails the report when a required check fails, and survives a throwing check', async () => {
    const checks: Check[] = [
      { id: 'a', title: 'a', required: true, run: async () => ({ status: 'fail', fix: 'install a' }) },
      { id: 'b', title: 'b', required: false, run: async () => { throw new Error('probe crashed'); } },
    ];
    const report = await runDoctor({ config: defaultConfig(), root: process.cwd() }, checks);
    expect(report.ok).toBe(false);
    expect(report.checks[1]).toMatchObject({ id: 'b', status: 'fail', detail: 'probe crashed' });
  });
});
