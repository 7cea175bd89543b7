/**
 * What the image formats share: the staged /boot tree, payload copying, pinned timestamps, the
 * FAT ESP. Format modules import from here (never from assemble.ts, which imports them).
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, utimesSync } from 'node:fs';
import { agentComponentId } from '../plan.js';
import { join } from 'node:path';
import { AbortError, runCommand, type TarsConfig } from '@tars/core';
import { sha256File } from '../hash-inputs.js';
import type { Manifest } from '../manifest.js';
import { earlyConfig, grubConfig, writeText } from '../grub.js';
import type { ComponentResult } from '../components.js';
import type { BuildPlan } from '../plan.js';

export type ImageFormat = TarsConfig['image']['format'];

export interface AssembleOptions {
  root: string;
  plan: BuildPlan;
  components: ComponentResult[];
  format: ImageFormat;
  /** Final directory, e.g. dist/iso. */
  outDir: string;
  sourceDateEpoch: number;
  git: { revision: string; dirty: boolean };
  signal?: AbortSignal;
}

export function touchTree(dir: string, epoch: number): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) touchTree(p, epoch);
    utimesSync(p, epoch, epoch);
  }
  utimesSync(dir, epoch, epoch);
}

/** `YYYYMMDDhhmmss00` in UTC, the form xorriso's date options take. */
export function isoDate(epoch: number): string {
  const d = new Date(epoch * 1000);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}00`;
}

/** Build the FAT EFI system partition image holding GRUB's BOOTX64.EFI. */
export async function makeEsp(path: string, efiBinary: string, sizeKb: number, env: Record<string, string>, signal?: AbortSignal): Promise<void> {
  const o = signal ? { env, signal } : { env };
  await runCommand('mformat', ['-i', path, '-C', '-T', String(sizeKb * 2), '-h', '2', '-s', '32', '-N', '54415253', '-v', 'TARSEFI', '::'], o);
  await runCommand('mmd', ['-i', path, '::/EFI', '::/EFI/BOOT'], o);
  await runCommand('mcopy', ['-m', '-i', path, efiBinary, '::/EFI/BOOT/BOOTX64.EFI'], o);
}

/**
 * The file tree both bootable formats share: /boot/tars (kernel, modules, payloads, GPU modules),
 * /boot/grub/grub.cfg, and GRUB's early config in `work`. Returns { tree, work, early }.
 */
export function stageBootTree(stage: string, opts: AssembleOptions): { tree: string; work: string; early: string } {
  const tree = join(stage, 'tree');
  const work = join(stage, 'work');
  mkdirSync(join(tree, 'boot', 'grub'), { recursive: true });
  mkdirSync(join(tree, 'boot', 'tars'), { recursive: true });
  mkdirSync(work, { recursive: true });
  copyFileSync(join(opts.root, opts.plan.boot.kernelSource), join(tree, 'boot', 'tars', 'tars-kernel.elf'));
  for (const m of builtModules(opts)) copyFileSync(join(opts.root, m.source), join(tree, 'boot', 'tars', m.file));
  copyPayloads(opts, join(tree, 'boot', 'tars', 'agents'));
  writeText(
    join(tree, 'boot', 'grub', 'grub.cfg'),
    grubConfig({
      kernelPath: '/boot/tars/tars-kernel.elf',
      cmdline: opts.plan.boot.cmdline,
      modules: builtModules(opts).map((m) => ({ path: `/boot/tars/${m.file}`, args: m.args })),
    }),
  );
  const early = join(work, 'early.cfg');
  writeText(early, earlyConfig());
  return { tree, work, early };
}

/** Payloads whose component was built (an optional one may have been skipped). */
/**
 * Boot modules whose component was built (an agent with a build step that was skipped — an
 * optional toolchain missing — is left out); a prebuilt executable (`lang: "elf"`) has no step.
 */
export function builtModules(opts: AssembleOptions): AssembleOptions['plan']['boot']['modules'] {
  return opts.plan.boot.modules.filter((m) => {
    const step = moduleStep(opts.plan, m);
    return step === undefined || opts.components.some((c) => c.id === step.id && c.executor !== 'skipped');
  });
}

/** The step that builds boot module `m`; none for a prebuilt executable (`lang: "elf"`). */
export function moduleStep(plan: AssembleOptions['plan'], m: { name: string }): AssembleOptions['plan']['steps'][number] | undefined {
  return plan.steps.find((s) => s.id === agentComponentId(m.name));
}

export function builtPayloads(opts: AssembleOptions): AssembleOptions['plan']['payloads'] {
  return opts.plan.payloads.filter((p) => existsSync(join(opts.root, p.source)) && opts.components.some((c) => c.id === agentComponentId(p.name) && c.executor !== 'skipped'));
}

/** GPU modules whose component was built. */
export function builtGpuModules(opts: AssembleOptions): AssembleOptions['plan']['gpuModules'] {
  return opts.plan.gpuModules.filter((g) => existsSync(join(opts.root, g.fatbinSource)) && opts.components.some((c) => c.id === agentComponentId(g.name) && c.executor !== 'skipped'));
}

/** Put the built payloads (agents/) and GPU modules (gpu/NAME/) into an image tree directory. */
export function copyPayloads(opts: AssembleOptions, dir: string): void {
  const payloads = builtPayloads(opts);
  if (payloads.length) mkdirSync(dir, { recursive: true });
  for (const p of payloads) copyFileSync(join(opts.root, p.source), join(dir, p.file));
  for (const g of builtGpuModules(opts)) {
    const to = join(dir, '..', 'gpu', g.name);
    mkdirSync(to, { recursive: true });
    copyFileSync(join(opts.root, g.fatbinSource), join(to, 'module.fatbin'));
    copyFileSync(join(opts.root, g.manifestSource), join(to, 'module.json'));
  }
}


/** The manifest's boot section for formats that carry /boot/tars inside a disk or CD image. */
export function diskBootSection(opts: AssembleOptions): Manifest['boot'] {
  return {
    kernel: '/boot/tars/tars-kernel.elf',
    cmdline: opts.plan.boot.cmdline,
    modules: builtModules(opts).map((m) => ({ name: m.name, version: m.version, args: m.args, sha256: sha256File(join(opts.root, m.source)), file: `/boot/tars/${m.file}` })),
    firmware: ['bios', 'uefi'],
  };
}

/** How a deployer boots a disk-image format: the image file (never modified) as a CD or a disk. */
export function diskBoot(m: Manifest, imageDir: string, media: 'cdrom' | 'disk'): { disk: { path: string; media: 'cdrom' | 'disk' } } {
  const file = m.files[0];
  if (!file) throw new AbortError(`${imageDir}: the manifest lists no image file`, { code: 'CHECK_FAILED' });
  return { disk: { path: join(imageDir, file.path), media } };
}
