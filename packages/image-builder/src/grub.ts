/** GRUB pieces for TARS images, built deterministically with grub-mkimage (not grub-mkrescue). */
import { writeFileSync } from 'node:fs';
import { runCommand } from '@tars/core';

export const GRUB_MODULES_COMMON = ['part_msdos', 'part_gpt', 'iso9660', 'fat', 'search', 'search_fs_file', 'multiboot', 'normal', 'configfile', 'echo', 'test'];
export const KERNEL_IN_IMAGE = '/boot/tars/tars-kernel.elf';

export interface BootEntry {
  kernelPath: string;
  cmdline: string;
  modules: { path: string; args: string }[];
}

/** The menu: boot TARS at once. GRUB stays off the serial line so COM1 carries only events. */
export function grubConfig(entry: BootEntry): string {
  const lines = ['set timeout=0', 'set default=0', '', 'menuentry "TARS OS" {', `  multiboot ${entry.kernelPath}${entry.cmdline ? ` ${entry.cmdline}` : ''}`];
  for (const m of entry.modules) lines.push(`  module ${m.path}${m.args ? ` ${m.args}` : ''}`);
  lines.push('  boot', '}', '');
  return lines.join('\n');
}

/** Embedded config: find the filesystem holding the kernel, then load its grub.cfg. */
export function earlyConfig(): string {
  return [`search --no-floppy --file --set=root ${KERNEL_IN_IMAGE}`, 'set prefix=($root)/boot/grub', ''].join('\n');
}

export async function grubMkimage(format: 'i386-pc-eltorito' | 'i386-pc' | 'x86_64-efi', out: string, earlyCfgPath: string, extraModules: string[], env: Record<string, string>, signal?: AbortSignal): Promise<void> {
  const mods = [...GRUB_MODULES_COMMON, ...extraModules];
  await runCommand('grub-mkimage', ['-O', format, '-p', '/boot/grub', '-c', earlyCfgPath, '-o', out, ...mods], { env, ...(signal ? { signal } : {}) });
}

export function writeText(path: string, text: string): void {
  writeFileSync(path, text);
}
