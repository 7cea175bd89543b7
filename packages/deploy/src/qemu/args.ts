/** QEMU command lines for TARS: direct multiboot boot or disk images, serial wiring. */
import { AbortError, BugError, MICROVM_MACHINE } from '@tars/core';

export type Accel = 'kvm' | 'tcg';
export type Machine = 'pc' | 'microvm';

export interface BootModule {
  /** Path without spaces (QEMU splits a module string at the first space). */
  path: string;
  /** Arguments after the path: `name=… version=… serve=…`. */
  args: string;
}

export interface QemuSpec {
  /** Direct boot: the multiboot kernel. */
  kernel?: string;
  modules?: BootModule[];
  append?: string;
  /** Disk boot: an ISO or raw image instead of `kernel`. */
  image?: { path: string; media: 'cdrom' | 'disk' };
  firmware?: 'bios' | 'uefi';
  accel: Accel;
  memoryMb: number;
  /**
   * `pc` (default) or `microvm`: no PCI, no ACPI, no PIC, no RTC — the two serial ports, the
   * PIT and the APICs only. Direct kernel boot only.
   */
  machine?: Machine;
  /** CPU model (default: `max` under TCG, `host` under KVM). */
  cpu?: string;
  /**
   * Count instructions (deterministic guest time): `true` is 1 ns per instruction (shift 0); a
   * number N is 2^N ns per instruction (`-icount shift=N`), which moves where the guest's
   * interrupts land among its instructions.
   */
  icount?: boolean | number;
  /** The QEMU monitor (HMP) on this unix socket, for tests that drive devices (`sendkey` …). */
  monitor?: string;
  /**
   * QEMU's gdb stub on this unix socket. QEMU waits for a debugger to connect, and the guest
   * starts only when the debugger lets it continue (tests stop the kernel at a symbol this way).
   */
  gdb?: string;
  /** isa-debug-exit at 0xf4 so the kernel's test runner can set QEMU's exit status. */
  debugExit?: boolean;
  /** Network boot from this TFTP root with this boot file (QEMU's built-in iPXE/TFTP). */
  pxe?: { tftpRoot: string; bootFile: string };
  /**
   * Guest RAM as a shared file at `path` and `hostwin=MiB` on the kernel command line: the kernel
   * keeps `mib` MiB of it for the host to write images and states into (PROTOCOL.md, host window).
   * Direct kernel boot only.
   */
  hostWindow?: { path: string; mib: number };
  /** QEMU's gdb stub on this unix socket, the guest running (`os gdb` attaches when asked). */
  gdbSocket?: string;
  /**
   * Record/replay (icount based, TCG only; needs `icount` as a number): `record` writes every
   * non-deterministic input (serial input, timers, clocks) to `file`; `replay` plays it back.
   */
  rr?: { mode: 'record' | 'replay'; file: string };
  /**
   * Persistent disks, each a virtio-blk PCI device (modern only, device id 1af4:1042) on `pc`, a
   * virtio-mmio (version 2) transport on `microvm`: the kernel names them blk0, blk1… in order and grants each to the driver module that asks for it
   * (`device=blkN`). Written in place: they outlive the deployment.
   */
  disks?: QemuDisk[];
  /**
   * The GPU remoting region (issue 27): the broker's region file shared with the guest as an
   * ivshmem-plain PCI device (1af4:1110, BAR 2 = the file), which the kernel names gpu0 and maps
   * channel by channel into the modules that name it (`device=gpu0`). `sizeBytes` is a power of
   * two at least the broker's region size (QEMU grows the file to it). `pc` only.
   */
  gpu?: { region: string; sizeBytes: number };
}

export interface QemuDisk {
  path: string;
  format: 'raw' | 'qcow2';
}

export interface QemuPaths {
  events: string;
  control: string;
  ovmfCode?: string;
  ovmfVars?: string;
}

/** The error for microvm asked to boot what it cannot: only a kernel, directly, with BIOS. */
export function microvmNeedsKernel(): AbortError {
  return new AbortError('-M microvm boots a kernel directly; it has no disk, CD-ROM, UEFI or network boot', { code: 'USAGE', tryMessage: 'Deploy the kernel format with --to qemu, or use --machine pc.' });
}

/** Escape a value for QEMU's comma-separated option syntax. */
export function qemuEscape(value: string): string {
  return value.replace(/,/g, ',,');
}

/**
 * COM2, the control channel: a unix socket QEMU listens on. A recorded run names it in `-serial`
 * itself: QEMU records (and replays) the input of the character devices `-serial` creates, not
 * that of a `-chardev` (QEMU 7.2's `qemu_chr_new` marks its devices for record/replay, `-chardev`
 * does not), and input a replay lacks makes it stall where the input came (measured). The
 * deployer still takes no control input while recording (`recordedControl`): whatever reaches
 * the socket is at least replayed as it was received.
 */
function controlSerial(spec: QemuSpec, paths: QemuPaths, microvm: boolean): string[] {
  const socket = `path=${qemuEscape(paths.control)},server=on,wait=off`;
  // microvm makes one ISA serial port from -serial; the second (COM2) is added by hand.
  if (spec.rr) return ['-serial', `unix:${socket.slice('path='.length)}`, ...(microvm ? ['-device', 'isa-serial,chardev=serial1,index=1'] : [])];
  return ['-chardev', `socket,id=control,${socket}`, ...(microvm ? ['-device', 'isa-serial,chardev=control,index=1'] : ['-serial', 'chardev:control'])];
}

export function qemuArgs(spec: QemuSpec, paths: QemuPaths): string[] {
  const microvm = spec.machine === 'microvm';
  if (microvm && (!spec.kernel || spec.firmware === 'uefi')) throw microvmNeedsKernel();
  const args = [
    ...(microvm ? ['-M', MICROVM_MACHINE] : []),
    '-accel', spec.accel,
    '-m', String(spec.memoryMb),
    '-display', 'none',
    '-no-reboot',
    '-nodefaults',
    '-monitor', spec.monitor ? `unix:${qemuEscape(spec.monitor)},server=on,wait=off` : 'none',
    '-chardev', `file,id=events,path=${qemuEscape(paths.events)}`,
    '-serial', 'chardev:events',
    ...controlSerial(spec, paths, microvm),
  ];
  // The CPU model is chosen, not defaulted: `qemu64` lacks SMEP and SMAP, which the kernel turns
  // on when present. Under TCG `max` is every feature TCG emulates (SMEP, SMAP, NX, FSGSBASE,
  // XSAVEOPT…; QEMU 7.2's TCG has no PCID, x2APIC or TSC-deadline); under KVM `host` passes the
  // real CPU's.
  args.push('-cpu', spec.cpu ?? (spec.accel === 'kvm' ? 'host' : 'max'));
  if (spec.rr && (typeof spec.icount !== 'number' || spec.accel !== 'tcg')) throw new BugError('record/replay needs TCG and a fixed -icount shift');
  if (spec.rr && spec.hostWindow) throw new BugError('record/replay cannot have a host window: host writes into guest RAM are not recorded');
  if (spec.icount !== undefined && spec.icount !== false) {
    const shift = spec.icount === true ? 0 : spec.icount;
    if (!Number.isInteger(shift) || shift < 0 || shift > 10) throw new BugError(`-icount shift must be an integer from 0 to 10 (got ${shift})`);
    args.push('-icount', `shift=${shift}${spec.rr ? `,rr=${spec.rr.mode},rrfile=${qemuEscape(spec.rr.file)}` : ''}`);
  }
  if (spec.gdb) args.push('-gdb', `unix:${qemuEscape(spec.gdb)},server=on,wait=on`, '-S');
  else if (spec.gdbSocket) args.push('-gdb', `unix:${qemuEscape(spec.gdbSocket)},server=on,wait=off`);
  if (spec.debugExit) args.push('-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04');
  if (spec.firmware === 'uefi') {
    if (!paths.ovmfCode || !paths.ovmfVars) throw new BugError('UEFI boot needs OVMF code and vars paths');
    args.push('-drive', `if=pflash,format=raw,readonly=on,file=${qemuEscape(paths.ovmfCode)}`);
    args.push('-drive', `if=pflash,format=raw,file=${qemuEscape(paths.ovmfVars)}`);
  }
  if (spec.disks?.length) {
    // microvm has no PCI: its virtio-mmio transports, in the modern (version 2) register layout.
    if (microvm) args.push('-global', 'virtio-mmio.force-legacy=false');
    spec.disks.forEach((d, n) => {
      args.push('-drive', `if=none,id=tarsdisk${n},file=${qemuEscape(d.path)},format=${d.format}`);
      args.push('-device', microvm ? `virtio-blk-device,drive=tarsdisk${n}` : `virtio-blk-pci,drive=tarsdisk${n},disable-legacy=on`);
    });
  }
  if (spec.gpu) {
    const size = spec.gpu.sizeBytes;
    if (microvm) throw new AbortError('the GPU region is a PCI device: it needs --machine pc, not microvm', { code: 'USAGE' });
    if (!Number.isInteger(size) || size < 8192 || (size & (size - 1)) !== 0) throw new BugError(`the GPU region size must be a power of two of at least 8 KiB (got ${size})`);
    args.push('-object', `memory-backend-file,id=tarsgpu,share=on,mem-path=${qemuEscape(spec.gpu.region)},size=${size}`);
    args.push('-device', 'ivshmem-plain,memdev=tarsgpu');
  }
  if (spec.pxe) {
    args.push('-netdev', `user,id=net0,tftp=${qemuEscape(spec.pxe.tftpRoot)},bootfile=${qemuEscape(spec.pxe.bootFile)}`);
    // The e1000's option ROM is iPXE, which fetches `bootFile` over QEMU's built-in TFTP.
    args.push('-device', 'e1000,netdev=net0', '-boot', 'n');
  } else if (spec.image) {
    // The image is never modified: a CD is read-only, a disk runs on a throwaway overlay.
    const drive = spec.image.media === 'cdrom' ? 'media=cdrom,readonly=on' : 'media=disk,snapshot=on';
    args.push('-drive', `file=${qemuEscape(spec.image.path)},format=raw,${drive},if=ide`);
    args.push('-boot', spec.image.media === 'cdrom' ? 'd' : 'c');
  } else if (spec.kernel) {
    args.push('-kernel', spec.kernel);
    const append = [spec.append, spec.hostWindow ? `hostwin=${spec.hostWindow.mib}` : undefined].filter(Boolean).join(' ');
    if (append) args.push('-append', append);
    if (spec.hostWindow) {
      if (!Number.isInteger(spec.hostWindow.mib) || spec.hostWindow.mib < 1 || spec.hostWindow.mib > 64) throw new BugError(`the host window is 1 to 64 MiB (got ${spec.hostWindow.mib})`);
      args.push('-object', `memory-backend-file,id=tars-ram,size=${spec.memoryMb}M,mem-path=${qemuEscape(spec.hostWindow.path)},share=on`, '-machine', 'memory-backend=tars-ram');
    }
    if (spec.modules?.length) {
      for (const m of spec.modules) if (/\s/.test(m.path)) throw new AbortError(`QEMU cannot pass a module path with whitespace: ${m.path}`, { code: 'USAGE', tryMessage: 'Move the project (or --image) to a path without spaces.' });
      args.push('-initrd', spec.modules.map((m) => qemuEscape(m.args ? `${m.path} ${m.args}` : m.path)).join(','));
    }
  } else {
    throw new BugError('QEMU spec needs a kernel, an image or a PXE root');
  }
  return args;
}
