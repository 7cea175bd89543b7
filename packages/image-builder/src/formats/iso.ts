/**
 * `iso`: a hybrid ISO (BIOS El Torito + UEFI ESP) made with grub-mkimage, mtools and xorriso with
 * every timestamp pinned to SOURCE_DATE_EPOCH, so two builds are bit-identical (grub-mkrescue is
 * not).
 */
import { join } from 'node:path';
import { probeVersion, runCommand } from '@tars/core';
import { grubMkimage } from '../grub.js';
import type { Manifest } from '../manifest.js';
import { diskBoot, diskBootSection, isoDate, makeEsp, stageBootTree, touchTree, type AssembleOptions } from './common.js';
import type { ImageFormatModule } from './format.js';

async function assembleIso(stage: string, opts: AssembleOptions, env: Record<string, string>, fileName: string): Promise<void> {
  const { tree, work, early } = stageBootTree(stage, opts);
  const sig = opts.signal;
  await grubMkimage('i386-pc-eltorito', join(tree, 'boot', 'grub', 'bios.img'), early, ['biosdisk'], env, sig);
  const efi = join(work, 'bootx64.efi');
  await grubMkimage('x86_64-efi', efi, early, ['efi_gop'], env, sig);
  touchTree(work, opts.sourceDateEpoch);
  const esp = join(tree, 'boot', 'grub', 'efi.img');
  await makeEsp(esp, efi, 4096, env, sig);
  touchTree(tree, opts.sourceDateEpoch);
  const date = isoDate(opts.sourceDateEpoch);
  await runCommand(
    'xorriso',
    [
      '-as', 'mkisofs', '-o', join(stage, fileName), '-R', '-V', 'TARS_OS',
      '--modification-date=' + date, '--set_all_file_dates', date,
      '-b', 'boot/grub/bios.img', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', '--grub2-boot-info',
      '--grub2-mbr', '/usr/lib/grub/i386-pc/boot_hybrid.img',
      '-eltorito-alt-boot', '-e', 'boot/grub/efi.img', '-no-emul-boot',
      '-append_partition', '2', '0xef', esp, '-appended_part_as_gpt',
      tree,
    ],
    { env, ...(sig ? { signal: sig } : {}) },
  );
}


export const isoFormat: ImageFormatModule = {
  name: 'iso',
  summary: 'hybrid ISO, BIOS and UEFI',
  tools: ['grub-mkimage', 'xorriso', 'mformat', 'mmd', 'mcopy'],
  async toolVersions() {
    const [grub, xorriso, mtools] = await Promise.all([probeVersion('grub-mkimage'), probeVersion('xorriso', ['-version']), probeVersion('mformat', ['--version'])]);
    return { 'grub-mkimage': grub ?? 'missing', mtools: mtools ?? 'missing', xorriso: xorriso ?? 'missing' };
  },
  async assemble(stage, opts, env) {
    const fileName = `${opts.plan.name}-${opts.plan.version}.iso`;
    await assembleIso(stage, opts, env, fileName);
    return { files: [fileName], boot: diskBootSection(opts) };
  },
  paths: { payloads: '/boot/tars/agents', gpu: '/boot/tars/gpu' },
  firmware: ['bios', 'uefi'],
  boot(m: Manifest, imageDir: string) {
    return diskBoot(m, imageDir, 'cdrom');
  },
  async extractBootFiles(_m, image, into) {
    await runCommand('xorriso', ['-osirrox', 'on', '-indev', image, '-extract', '/boot/tars', join(into, 'boot', 'tars')]);
  },
  releaseAssetName: (_m, file) => file,
};
