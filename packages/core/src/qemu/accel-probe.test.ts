import { describe, expect, it } from 'vitest';
import { kvmDeviceUsable, PROBE_EXIT_STATUS, probeAccel, probeKernel } from './accel-probe.js';

describe('accel probe', () => {
  it('builds a valid multiboot header', () => {
    const k = probeKernel();
    const magic = k.readUInt32LE(0);
    const flags = k.readUInt32LE(4);
    const sum = k.readUInt32LE(8);
    expect(magic).toBe(0x1badb002);
    expect((magic + flags + sum) % 2 ** 32).toBe(0);
    expect(k.readUInt32LE(28)).toBe(0x100020);
  });

  it('boots under TCG and reaches the exit port', async () => {
    const r = await probeAccel('tcg');
    expect(r).toMatchObject({ accel: 'tcg', usable: true });
    expect(PROBE_EXIT_STATUS).toBe(67);
  });

  it('reports KVM as unusable without a usable /dev/kvm', async () => {
    const r = await probeAccel('kvm');
    if (!kvmDeviceUsable()) expect(r).toMatchObject({ usable: false, detail: '/dev/kvm is missing or not accessible' });
    else expect(typeof r.usable).toBe('boolean');
  });
});
