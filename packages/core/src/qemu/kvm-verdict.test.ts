import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kvmDeviceUsable, PROBE_EXIT_STATUS } from './accel-probe.js';
import { kvmVerdict, kvmVerdictFile } from './kvm-verdict.js';

/** A stand-in QEMU: prints `version` for --version, counts probe boots, exits like a booted probe. */
function fakeQemu(dir: string, version: string, exit = PROBE_EXIT_STATUS): string {
  const file = join(dir, `qemu-${version}`);
  writeFileSync(file, `#!/bin/sh\nif [ "$1" = --version ]; then echo "QEMU emulator version ${version}"; exit 0; fi\necho boot >> ${join(dir, 'boots')}\nexit ${exit}\n`);
  chmodSync(file, 0o755);
  return file;
}
const boots = (dir: string) => {
  try {
    return readFileSync(join(dir, 'boots'), 'utf8').split('\n').filter(Boolean).length;
  } catch {
    return 0;
  }
};

describe('cached KVM verdict', () => {
  it.runIf(kvmDeviceUsable())('probes once, then answers from the cache until the QEMU version changes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tars-kvm-'));
    const env = { XDG_CACHE_HOME: join(dir, 'cache') };
    const q1 = fakeQemu(dir, '7.2.0');
    const first = await kvmVerdict({ env, qemu: q1 });
    expect(first).toMatchObject({ usable: true, source: 'probe' });
    expect(boots(dir)).toBe(1);
    const cached = JSON.parse(readFileSync(kvmVerdictFile(env), 'utf8'));
    expect(cached.key).toContain('QEMU emulator version 7.2.0');
    expect(cached.key).toContain('/dev/kvm rdev');

    const second = await kvmVerdict({ env, qemu: q1 });
    expect(second).toMatchObject({ usable: true, source: 'cache', checkedAt: first.checkedAt });
    expect(boots(dir)).toBe(1);

    const q2 = fakeQemu(dir, '8.0.0', 1);
    expect(await kvmVerdict({ env, qemu: q2 })).toMatchObject({ usable: false, source: 'probe' });
    expect(boots(dir)).toBe(2);
    expect(await kvmVerdict({ env, qemu: q2, refresh: true })).toMatchObject({ source: 'probe' });
    expect(boots(dir)).toBe(3);
  });

  it.runIf(!kvmDeviceUsable())('without /dev/kvm the verdict needs no probe', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tars-kvm-'));
    expect(await kvmVerdict({ env: { XDG_CACHE_HOME: dir }, qemu: fakeQemu(dir, '7.2.0') })).toMatchObject({ usable: false, source: 'device' });
    expect(boots(dir)).toBe(0);
  });

  it.runIf(kvmDeviceUsable())('a probe that hangs is cut off after the short timeout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tars-kvm-'));
    const q = join(dir, 'qemu-hang');
    writeFileSync(q, '#!/bin/sh\nif [ "$1" = --version ]; then echo "QEMU emulator version 9.9.9"; exit 0; fi\nexec sleep 60\n');
    chmodSync(q, 0o755);
    const v = await kvmVerdict({ env: { XDG_CACHE_HOME: dir }, qemu: q, timeoutMs: 300 });
    expect(v).toMatchObject({ usable: false, source: 'probe', detail: expect.stringContaining('did not finish within 0.3 s') });
  });
});
