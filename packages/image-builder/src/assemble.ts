/**
 * Image assembly from cached component outputs only. Formats:
 * - `kernel`: the multiboot kernel and its modules, for QEMU direct boot;
 * - `iso`: a hybrid ISO (BIOS El Torito + UEFI ESP) made with grub-mkimage, mtools and xorriso
 *   with every timestamp pinned to SOURCE_DATE_EPOCH, so two builds are bit-identical
 *   (grub-mkrescue is not);
 * - `raw`: a GPT disk: BIOS boot via GRUB's hybrid MBR and an ESP for UEFI.
 * Everything is staged in a temporary directory and swapped in with renames: a killed build
 * leaves the previous image intact.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, utimesSync } from 'node:fs';
import { basename, join } from 'node:path';
import { probeVersion, runCommand, writeFileAtomic, type TarsConfig } from '@tars/core';
import type { ComponentResult } from './components.js';
import { earlyConfig, grubConfig, grubMkimage, writeText } from './grub.js';
import { sha256File } from './hash-inputs.js';
import { readManifest, sha256sums, writeManifest, type Manifest } from './manifest.js';
import { readGpuModule } from './gpu-module.js';
import { AbortError } from '@tars/core';
import { createHash } from 'node:crypto';
import type { BuildPlan } from './plan.js';

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

export interface AssembleResult {
  dir: string;
  manifest: Manifest;
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

async function toolVersions(format: ImageFormat): Promise<Record<string, string>> {
  if (format === 'kernel') return {};
  const [grub, xorriso, mtools] = await Promise.all([probeVersion('grub-mkimage'), probeVersion('xorriso', ['-version']), probeVersion('mformat', ['--version'])]);
  const out: Record<string, string> = { 'grub-mkimage': grub ?? 'missing', mtools: mtools ?? 'missing' };
  if (format === 'iso') out['xorriso'] = xorriso ?? 'missing';
  return out;
}

/** Build the FAT EFI system partition image holding GRUB's BOOTX64.EFI. */
async function makeEsp(path: string, efiBinary: string, sizeKb: number, env: Record<string, string>, signal?: AbortSignal): Promise<void> {
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
  for (const m of opts.plan.boot.modules) copyFileSync(join(opts.root, m.source), join(tree, 'boot', 'tars', m.file));
  copyPayloads(opts, join(tree, 'boot', 'tars', 'agents'));
  writeText(
    join(tree, 'boot', 'grub', 'grub.cfg'),
    grubConfig({
      kernelPath: '/boot/tars/tars-kernel.elf',
      cmdline: opts.plan.boot.cmdline,
      modules: opts.plan.boot.modules.map((m) => ({ path: `/boot/tars/${m.file}`, args: m.args })),
    }),
  );
  const early = join(work, 'early.cfg');
  writeText(early, earlyConfig());
  return { tree, work, early };
}

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

/**
 * Debug information next to the image, not in it: `debug/tars-kernel.dbg` and `debug/NAME.dbg`
 * per module (what `os diagnostics` and `os logs` symbolize faults with). Absent ones are skipped.
 */
function copyDebugFiles(stage: string, opts: AssembleOptions): void {
  const pairs: [string, string][] = [[opts.plan.boot.kernelSource.replace(/\.elf$/, '.dbg'), 'tars-kernel.dbg']];
  for (const m of opts.plan.boot.modules) pairs.push([m.source.replace(/\.elf$/, '.dbg'), `${m.name}.dbg`]);
  for (const [src, name] of pairs) {
    if (!src.endsWith('.dbg') || !existsSync(join(opts.root, src))) continue;
    mkdirSync(join(stage, 'debug'), { recursive: true });
    copyFileSync(join(opts.root, src), join(stage, 'debug', name));
  }
}

/** Payloads whose component was built (an optional one may have been skipped). */
export function builtPayloads(opts: AssembleOptions): AssembleOptions['plan']['payloads'] {
  return opts.plan.payloads.filter((p) => existsSync(join(opts.root, p.source)) && opts.components.some((c) => c.id === `agent:${p.name}` && c.executor !== 'skipped'));
}

async function assembleKernelDir(stage: string, opts: AssembleOptions): Promise<void> {
  copyFileSync(join(opts.root, opts.plan.boot.kernelSource), join(stage, 'tars-kernel.elf'));
  mkdirSync(join(stage, 'modules'));
  for (const m of opts.plan.boot.modules) copyFileSync(join(opts.root, m.source), join(stage, 'modules', m.file));
  copyPayloads(opts, join(stage, 'agents'));
  touchTree(stage, opts.sourceDateEpoch);
}

const FORMAT_TOOLS: Record<ImageFormat, string[]> = { kernel: [], iso: ['grub-mkimage', 'xorriso', 'mformat', 'mmd', 'mcopy'], raw: ['grub-mkimage', 'mformat', 'mcopy'] };

/** Identify the assembly tools by path, size and mtime: a changed tool changes the key, and no
 * process has to run (a no-op rebuild stays fast). */
export function toolFingerprints(format: ImageFormat): Record<string, string> {
  const out: Record<string, string> = {};
  for (const tool of FORMAT_TOOLS[format]) {
    const dir = (process.env['PATH'] ?? '').split(':').find((d) => d && existsSync(join(d, tool)));
    if (!dir) {
      out[tool] = 'missing';
      continue;
    }
    const st = statSync(join(dir, tool));
    out[tool] = `${join(dir, tool)}:${st.size}:${Math.round(st.mtimeMs)}`;
  }
  return out;
}

/** Everything the image is made from. */
export function buildKey(opts: AssembleOptions, tools: Record<string, string>): string {
  const material = {
    format: opts.format,
    plan: opts.plan.boot,
    payloads: opts.plan.payloads,
    gpuModules: opts.plan.gpuModules,
    name: opts.plan.name,
    version: opts.plan.version,
    components: opts.components.map((c) => [c.id, c.inputsHash, c.outputs.map((o) => o.sha256)]),
    sourceDateEpoch: opts.sourceDateEpoch,
    git: opts.git,
    tools,
  };
  return createHash('sha256').update(JSON.stringify(material)).digest('hex');
}

/** The existing image when it was built from the same key and still matches its manifest. */
function upToDate(outDir: string, key: string): Manifest | undefined {
  const path = join(outDir, 'manifest.json');
  if (!existsSync(path)) return undefined;
  try {
    const m = readManifest(path);
    if (m.buildKey !== key) return undefined;
    for (const f of m.files) if (!existsSync(join(outDir, f.path)) || sha256File(join(outDir, f.path)) !== f.sha256) return undefined;
    return m;
  } catch {
    return undefined;
  }
}

/** GPU modules whose component was built. */
export function builtGpuModules(opts: AssembleOptions): AssembleOptions['plan']['gpuModules'] {
  return opts.plan.gpuModules.filter((g) => existsSync(join(opts.root, g.fatbinSource)) && opts.components.some((c) => c.id === `agent:${g.name}` && c.executor !== 'skipped'));
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

export async function assembleImage(opts: AssembleOptions): Promise<AssembleResult & { upToDate: boolean }> {
  const key = buildKey(opts, toolFingerprints(opts.format));
  const existing = upToDate(opts.outDir, key);
  if (existing) return { dir: opts.outDir, manifest: existing, upToDate: true };
  const tools = await toolVersions(opts.format);
  const parent = join(opts.outDir, '..');
  mkdirSync(parent, { recursive: true });
  // Staging directories left by killed builds are never images; clear them out.
  for (const name of readdirSync(parent)) {
    if (name.startsWith(`.${basename(opts.outDir)}.tmp-`) || name.startsWith(`${basename(opts.outDir)}.old-`)) rmSync(join(parent, name), { recursive: true, force: true });
  }
  const stage = mkdtempSync(join(parent, `.${basename(opts.outDir)}.tmp-`));
  const env = { SOURCE_DATE_EPOCH: String(opts.sourceDateEpoch), TZ: 'UTC', LC_ALL: 'C' };
  try {
    const base = `${opts.plan.name}-${opts.plan.version}`;
    let files: string[];
    const modules = opts.plan.boot.modules;
    const mod = (m: (typeof modules)[number]) => ({ name: m.name, version: m.version, args: m.args, sha256: sha256File(join(opts.root, m.source)) });
    let boot: Manifest['boot'];
    if (opts.format === 'kernel') {
      await assembleKernelDir(stage, opts);
      files = [
        'tars-kernel.elf',
        ...modules.map((m) => `modules/${m.file}`),
        ...builtPayloads(opts).map((p) => `agents/${p.file}`),
        ...builtGpuModules(opts).flatMap((g) => [`gpu/${g.name}/module.fatbin`, `gpu/${g.name}/module.json`]),
      ];
      boot = { kernel: 'tars-kernel.elf', cmdline: opts.plan.boot.cmdline, modules: modules.map((m) => ({ ...mod(m), file: `modules/${m.file}` })), firmware: [] };
    } else {
      const fileName = `${base}.${opts.format === 'iso' ? 'iso' : 'img'}`;
      if (opts.format === 'iso') await assembleIso(stage, opts, env, fileName);
      else await assembleRaw(stage, opts, env, fileName);
      rmSync(join(stage, 'tree'), { recursive: true, force: true });
      rmSync(join(stage, 'work'), { recursive: true, force: true });
      files = [fileName];
      boot = {
        kernel: '/boot/tars/tars-kernel.elf',
        cmdline: opts.plan.boot.cmdline,
        modules: modules.map((m) => ({ ...mod(m), file: `/boot/tars/${m.file}` })),
        firmware: ['bios', 'uefi'],
      };
    }
    copyDebugFiles(stage, opts);
    const fileEntries = files.map((f) => ({ path: f, sha256: sha256File(join(stage, f)), size: statSync(join(stage, f)).size }));
    const payloadDir = opts.format === 'kernel' ? 'agents' : '/boot/tars/agents';
    const payloads = builtPayloads(opts).map((p) => ({ name: p.name, lang: p.lang, version: p.version, file: `${payloadDir}/${p.file}`, sha256: sha256File(join(opts.root, p.source)) }));
    const gpuDir = opts.format === 'kernel' ? 'gpu' : '/boot/tars/gpu';
    const gpuModules = builtGpuModules(opts).map((g) => {
      const gm = readGpuModule(join(opts.root, g.manifestSource));
      const fatbinSha = sha256File(join(opts.root, g.fatbinSource));
      if (fatbinSha !== gm.fatbin.sha256) throw new AbortError(`${g.manifestSource} does not describe ${g.fatbinSource} (sha256 differs)`, { code: 'CHECK_FAILED' });
      return { name: g.name, version: g.version, fatbin: `${gpuDir}/${g.name}/module.fatbin`, manifest: `${gpuDir}/${g.name}/module.json`, sha256: fatbinSha, manifestSha256: sha256File(join(opts.root, g.manifestSource)), archs: gm.archs, entryPoints: gm.entryPoints.map((e) => e.name) };
    });
    const manifest: Manifest = {
      schema: 1,
      name: opts.plan.name,
      version: opts.plan.version,
      format: opts.format,
      git: opts.git,
      sourceDateEpoch: opts.sourceDateEpoch,
      files: fileEntries,
      components: opts.components
        .filter((c) => c.executor !== 'skipped')
        .map((c) => ({ id: c.id, kind: c.kind, inputsHash: c.inputsHash, toolchain: c.toolchain, outputs: c.outputs })),
      boot,
      payloads,
      gpuModules,
      tools,
      buildKey: key,
    };
    writeManifest(join(stage, 'manifest.json'), manifest);
    writeFileAtomic(join(stage, 'SHA256SUMS'), sha256sums(fileEntries));
    // Swap in: the old image stays whole until the new one is complete.
    const old = `${opts.outDir}.old-${process.pid}`;
    if (existsSync(opts.outDir)) renameSync(opts.outDir, old);
    renameSync(stage, opts.outDir);
    rmSync(old, { recursive: true, force: true });
    return { dir: opts.outDir, manifest, upToDate: false };
  } catch (err) {
    rmSync(stage, { recursive: true, force: true });
    throw err;
  }
}

// Defined in raw.ts; imported lazily to keep this file about the common flow.
import { assembleRaw } from './raw.js';
