/**
 * A real acceleration probe: boot an 89-byte multiboot kernel that turns SSE on, runs SSE
 * instructions (two reading memory) and exits through isa-debug-exit. Nested KVM has been seen
 * to fail on exactly that, so a KVM device node alone proves nothing. One nested setup stopped
 * the TARS kernel with "KVM internal error. Suberror: 1" (emulation failure) on a `pinsrw`
 * reading memory in core's integer formatting: the probe runs that instruction too.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync, accessSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../exec.js';

const MB_MAGIC = 0x1badb002;
const MB_FLAGS = 0x00010000; // a.out kludge: load addresses come from the header
const LOAD_ADDR = 0x100000;
const HEADER_SIZE = 32;
/** isa-debug-exit turns a written value v into exit status (v << 1) | 1. */
export const PROBE_EXIT_VALUE = 0x21;
export const PROBE_EXIT_STATUS = (PROBE_EXIT_VALUE << 1) | 1;

// prettier-ignore
const CODE = [
  0x0f, 0x20, 0xc0,                   // mov eax, cr0
  0x66, 0x25, 0xfb, 0xff,             // and ax, ~CR0.EM
  0x66, 0x83, 0xc8, 0x02,             // or ax, CR0.MP
  0x0f, 0x22, 0xc0,                   // mov cr0, eax
  0x0f, 0x20, 0xe0,                   // mov eax, cr4
  0x66, 0x0d, 0x00, 0x06,             // or ax, CR4.OSFXSR | CR4.OSXMMEXCPT
  0x0f, 0x22, 0xe0,                   // mov cr4, eax
  0x0f, 0x10, 0x0d, 0x00, 0x00, 0x10, 0x00, // movups xmm1, [0x100000]
  0x66, 0x0f, 0xc4, 0x0d, 0x00, 0x00, 0x10, 0x00, 0x01, // pinsrw xmm1, word [0x100000], 1
  0x0f, 0x57, 0xc0,                   // xorps xmm0, xmm0
  0x0f, 0x58, 0xc0,                   // addps xmm0, xmm0
  0x66, 0x0f, 0x7e, 0xc0,             // movd eax, xmm0   (eax = 0)
  0x04, PROBE_EXIT_VALUE,             // add al, 0x21
  0xe6, 0xf4,                         // out 0xf4, al     (isa-debug-exit)
  0xf4,                               // hlt
  0xeb, 0xfd,                         // jmp hlt
];

/** The probe kernel image, a multiboot1 binary with the a.out kludge. */
export function probeKernel(): Buffer {
  const header = Buffer.alloc(HEADER_SIZE);
  header.writeUInt32LE(MB_MAGIC, 0);
  header.writeUInt32LE(MB_FLAGS, 4);
  header.writeUInt32LE((0x1_0000_0000 - ((MB_MAGIC + MB_FLAGS) % 0x1_0000_0000)) % 0x1_0000_0000, 8);
  header.writeUInt32LE(LOAD_ADDR, 12); // header_addr
  header.writeUInt32LE(LOAD_ADDR, 16); // load_addr
  header.writeUInt32LE(0, 20); // load_end_addr: whole file
  header.writeUInt32LE(0, 24); // bss_end_addr: none
  header.writeUInt32LE(LOAD_ADDR + HEADER_SIZE, 28); // entry_addr
  return Buffer.concat([header, Buffer.from(CODE)]);
}

export type Accel = 'kvm' | 'tcg';

/** QEMU's `-M` value for microvm with only what TARS uses: no PIC, RTC, ACPI or PCIe. */
export const MICROVM_MACHINE = 'microvm,pic=off,rtc=off,acpi=off,pcie=off';

export interface ProbeResult {
  accel: Accel;
  usable: boolean;
  /** Why it is not usable, or the QEMU wall time when it is. */
  detail: string;
  wallMs: number;
}

export function kvmDeviceUsable(): boolean {
  if (!existsSync('/dev/kvm')) return false;
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Boot the probe kernel under `accel` (on QEMU's `machine`) and check it reached the exit port. */
export async function probeAccel(accel: Accel, qemu = 'qemu-system-x86_64', timeoutMs = 15_000, machine: 'pc' | 'microvm' = 'pc'): Promise<ProbeResult> {
  if (accel === 'kvm' && !kvmDeviceUsable()) {
    return { accel, usable: false, detail: '/dev/kvm is missing or not accessible', wallMs: 0 };
  }
  const dir = mkdtempSync(join(tmpdir(), 'tars-accel-'));
  const kernel = join(dir, 'probe.bin');
  writeFileSync(kernel, probeKernel());
  try {
    const r = await runCommand(
      qemu,
      [
        ...(machine === 'microvm' ? ['-M', MICROVM_MACHINE] : []),
        '-accel', accel, '-m', '32', '-display', 'none', '-serial', 'none', '-monitor', 'none',
        '-no-reboot', '-nodefaults', '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04', '-kernel', kernel,
      ],
      { reject: false, timeoutMs },
    );
    const usable = r.exitCode === PROBE_EXIT_STATUS;
    const why = (r.stderr.trim().split('\n').pop() ?? '').slice(0, 200);
    const timedOut = !usable && r.durationMs >= timeoutMs - 50;
    return {
      accel,
      usable,
      detail: usable
        ? `probe kernel booted in ${Math.round(r.durationMs)} ms`
        : timedOut
          ? `the probe boot did not finish within ${timeoutMs / 1000} s (nested KVM that hangs)`
          : `probe exited ${r.exitCode}${why ? `: ${why}` : ''}`,
      wallMs: r.durationMs,
    };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const detail = /timed out/i.test(message) ? `the probe boot did not finish within ${timeoutMs / 1000} s (nested KVM that hangs)` : message;
    return { accel, usable: false, detail, wallMs: 0 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
