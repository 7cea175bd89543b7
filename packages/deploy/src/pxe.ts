/**
 * `os deploy --to pxe`: a TFTP root for network boot — GRUB as a PXE program (`tars.pxe`), its
 * grub.cfg, the kernel and modules — proved by PXE-booting a QEMU machine from it through QEMU's
 * built-in DHCP/TFTP and iPXE. The same directory can be served by any TFTP server (dnsmasq:
 * `enable-tftp`, `tftp-root=DIR`, `dhcp-boot=tars.pxe`).
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AbortError, runCommand } from '@tars/core';
import type { Manifest } from '@tars/image-builder';

export const PXE_BOOT_FILE = 'tars.pxe';
const PXE_MODULES = ['pxe', 'tftp', 'multiboot', 'normal', 'configfile', 'echo', 'test'];

export async function preparePxeRoot(manifest: Manifest, imageDir: string, tftpRoot: string): Promise<string> {
  const { getFormat, grubConfig } = await import('@tars/image-builder');
  if (!getFormat(manifest.format).boot(manifest, imageDir).kernel) {
    throw new AbortError('PXE boot serves the kernel and its modules: deploy a kernel-format image', { tryMessage: 'tarscli os build --format kernel && tarscli os deploy --to pxe --format kernel' });
  }
  mkdirSync(join(tftpRoot, 'boot', 'grub'), { recursive: true });
  mkdirSync(join(tftpRoot, 'boot', 'tars'), { recursive: true });
  copyFileSync(join(imageDir, manifest.boot.kernel), join(tftpRoot, 'boot', 'tars', 'tars-kernel.elf'));
  const modules = manifest.boot.modules.map((m) => {
    const file = m.file.split('/').pop() as string;
    copyFileSync(join(imageDir, m.file), join(tftpRoot, 'boot', 'tars', file));
    return { path: `/boot/tars/${file}`, args: m.args };
  });
  writeFileSync(join(tftpRoot, 'boot', 'grub', 'grub.cfg'), grubConfig({ kernelPath: '/boot/tars/tars-kernel.elf', cmdline: manifest.boot.cmdline, modules }));
  await runCommand('grub-mkimage', ['-O', 'i386-pc-pxe', '-p', '(tftp)/boot/grub', '-o', join(tftpRoot, PXE_BOOT_FILE), ...PXE_MODULES]);
  return PXE_BOOT_FILE;
}
