/**
 * The `raw` format: a GPT disk image. Partition 1 is a BIOS boot partition holding GRUB's
 * core.img (the MBR holds GRUB's boot.img, patched to find it); partition 2 is the EFI system
 * partition (FAT) holding BOOTX64.EFI, grub.cfg, the kernel and its modules. Both firmware paths
 * end in the same grub.cfg. Written without loop devices or root.
 */
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { AbortError, probeVersion, runCommand } from '@tars/core';
import { GPT_TYPE, SECTOR, writeGpt } from '../gpt.js';
import { grubMkimage } from '../grub.js';
import type { Manifest } from '../manifest.js';
import { diskBoot, diskBootSection, isoDate, stageBootTree, touchTree, type AssembleOptions } from './common.js';
import type { ImageFormatModule } from './format.js';

const CORE_LBA = 2048;
const CORE_SECTORS = 2048; // 1 MiB BIOS boot partition
const ESP_LBA = 4096;
const ESP_MB = 32;
const GRUB_LIB = '/usr/lib/grub/i386-pc';


/** Patch GRUB's boot.img and core.img the way grub-bios-setup does, for core.img at `lba`. */
export function patchGrubBios(bootImg: Buffer, coreImg: Buffer, lba: number): void {
  bootImg.writeBigUInt64LE(BigInt(lba), 0x5c); // GRUB_BOOT_MACHINE_KERNEL_SECTOR
  const sectors = Math.ceil(coreImg.length / SECTOR);
  // diskboot.img's first blocklist entry sits at the end of core.img's first sector.
  const list = SECTOR - 12;
  coreImg.writeBigUInt64LE(BigInt(lba + 1), list); // start
  coreImg.writeUInt16LE(sectors - 1, list + 8); // length in sectors
}

async function assembleRaw(stage: string, opts: AssembleOptions, env: Record<string, string>, fileName: string): Promise<void> {
  const { tree, work, early } = stageBootTree(stage, opts);
  mkdirSync(join(tree, 'EFI', 'BOOT'), { recursive: true });
  const core = join(work, 'core.img');
  await grubMkimage('i386-pc', core, early, ['biosdisk'], env, opts.signal);
  await grubMkimage('x86_64-efi', join(tree, 'EFI', 'BOOT', 'BOOTX64.EFI'), early, ['efi_gop'], env, opts.signal);
  touchTree(tree, opts.sourceDateEpoch);

  const espSectors = (ESP_MB * 1024 * 1024) / SECTOR;
  const esp = join(work, 'esp.img');
  const o = opts.signal ? { env, signal: opts.signal } : { env };
  await runCommand('mformat', ['-i', esp, '-C', '-T', String(espSectors), '-h', '64', '-s', '32', '-H', String(ESP_LBA), '-N', '54415253', '-v', 'TARSESP', '::'], o);
  await runCommand('mcopy', ['-s', '-m', '-i', esp, join(tree, 'EFI'), join(tree, 'boot'), '::/'], o);

  const totalSectors = ESP_LBA + espSectors + 2048;
  const disk = Buffer.alloc(totalSectors * SECTOR);
  const bootImg = Buffer.from(readFileSync(join(GRUB_LIB, 'boot.img')));
  const coreImg = Buffer.from(readFileSync(core));
  if (coreImg.length > CORE_SECTORS * SECTOR) throw new AbortError(`GRUB core.img (${coreImg.length} bytes) does not fit the BIOS boot partition`, { code: 'CHECK_FAILED' });
  patchGrubBios(bootImg, coreImg, CORE_LBA);
  writeGpt(
    disk,
    [
      { type: GPT_TYPE.biosBoot, name: 'BIOS boot', firstLba: CORE_LBA, lastLba: CORE_LBA + CORE_SECTORS - 1, seed: `${opts.plan.name}:bios` },
      { type: GPT_TYPE.efiSystem, name: 'EFI system', firstLba: ESP_LBA, lastLba: ESP_LBA + espSectors - 1, seed: `${opts.plan.name}:esp` },
    ],
    `${opts.plan.name}-${opts.plan.version}:${isoDate(opts.sourceDateEpoch)}`,
    bootImg,
  );
  coreImg.copy(disk, CORE_LBA * SECTOR);
  readFileSync(esp).copy(disk, ESP_LBA * SECTOR);
  const fd = openSync(join(stage, fileName), 'w');
  try {
    writeSync(fd, disk);
  } finally {
    closeSync(fd);
  }
}

export const rawFormat: ImageFormatModule = {
  name: 'raw',
  summary: 'GPT disk image, BIOS and UEFI',
  tools: ['grub-mkimage', 'mformat', 'mcopy'],
  async toolVersions() {
    const [grub, mtools] = await Promise.all([probeVersion('grub-mkimage'), probeVersion('mformat', ['--version'])]);
    return { 'grub-mkimage': grub ?? 'missing', mtools: mtools ?? 'missing' };
  },
  async assemble(stage, opts, env) {
    const fileName = `${opts.plan.name}-${opts.plan.version}.img`;
    await assembleRaw(stage, opts, env, fileName);
    return { files: [fileName], boot: diskBootSection(opts) };
  },
  paths: { payloads: '/boot/tars/agents', gpu: '/boot/tars/gpu' },
  firmware: ['bios', 'uefi'],
  boot(m: Manifest, imageDir: string) {
    // The image is never modified: deployers boot it on a throwaway overlay.
    return diskBoot(m, imageDir, 'disk');
  },
  async extractBootFiles(_m, image, into) {
    // The ESP is partition 2 of the GPT; read it with mtools at its byte offset.
    const disk = readFileSync(image);
    // The table's numbers come from the file: check each before following it.
    const bad = (why: string) => new AbortError(`${image}: not a TARS GPT disk (${why})`, { code: 'CHECK_FAILED' });
    if (disk.length < 2 * SECTOR || disk.toString('latin1', SECTOR, SECTOR + 8) !== 'EFI PART') throw bad('no GPT header at LBA 1');
    const entries = Number(disk.readBigUInt64LE(SECTOR + 72));
    const at = entries * SECTOR + 128 + 32;
    if (!Number.isSafeInteger(at) || at + 8 > disk.length) throw bad(`partition entries at LBA ${entries} lie outside the disk`);
    const first = Number(disk.readBigUInt64LE(at));
    if (!Number.isSafeInteger(first * SECTOR) || first < 2 || first * SECTOR >= disk.length) throw bad(`the ESP's first LBA ${first} lies outside the disk`);
    await runCommand('mcopy', ['-s', '-n', '-i', `${image}@@${first * SECTOR}`, '::/boot', into]);
  },
  releaseAssetName: (_m, file) => file,
};
