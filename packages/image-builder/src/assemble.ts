/**
 * Image assembly from cached component outputs only. The format (kernel, iso, raw) is a module
 * in formats/ (its tools, its assembly, its in-image paths); this file is the common flow:
 * everything is staged in a temporary directory and swapped in with renames, so a killed build
 * leaves the previous image intact.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, utimesSync } from 'node:fs';
import { basename, join } from 'node:path';
import { writeFileAtomic } from '@tars/core';
import { sha256File } from './hash-inputs.js';
import { readManifest, sha256sums, writeManifest, type Manifest } from './manifest.js';
import { readGpuModule } from './gpu-module.js';
import { AbortError } from '@tars/core';
import { createHash } from 'node:crypto';
import { builtGpuModules, builtPayloads, getFormat, moduleStep, type AssembleOptions, type ImageFormat } from './formats/index.js';
import { checkLinuxExecutable } from './elf-check.js';
import { readGuestSignatures } from './sandbox-signatures.js';

export type { AssembleOptions, ImageFormat } from './formats/index.js';

export interface AssembleResult {
  dir: string;
  manifest: Manifest;
}

/** Identify the assembly tools by path, size and mtime: a changed tool changes the key, and no
 * process has to run (a no-op rebuild stays fast). */
export function toolFingerprints(format: ImageFormat): Record<string, string> {
  const out: Record<string, string> = {};
  for (const tool of getFormat(format).tools) {
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
/** Boot modules no step builds: prebuilt executables (`lang: "elf"`) taken from the project. */
function prebuiltModules(opts: AssembleOptions): AssembleOptions['plan']['boot']['modules'] {
  return opts.plan.boot.modules.filter((m) => moduleStep(opts.plan, m) === undefined);
}

export function buildKey(opts: AssembleOptions, tools: Record<string, string>): string {
  const material = {
    format: opts.format,
    plan: opts.plan.boot,
    payloads: opts.plan.payloads,
    gpuModules: opts.plan.gpuModules,
    ...(opts.plan.sandboxModules ? { sandboxModules: opts.plan.sandboxModules } : {}),
    name: opts.plan.name,
    version: opts.plan.version,
    components: opts.components.map((c) => [c.id, c.inputsHash, c.outputs.map((o) => o.sha256)]),
    // Prebuilt modules (lang "elf") have no step: their bytes are part of the key.
    prebuilt: prebuiltModules(opts).map((m) => [m.name, existsSync(join(opts.root, m.source)) ? sha256File(join(opts.root, m.source)) : 'missing']),
    sourceDateEpoch: opts.sourceDateEpoch,
    git: opts.git,
    tools,
  };
  return createHash('sha256').update(JSON.stringify(material)).digest('hex');
}

/**
 * What every format built from one config and one set of sources shares: the buildKey without
 * the format and the tools that assemble it. `release publish` compares it across images.
 */
export function contentKey(opts: AssembleOptions): string {
  const material = {
    plan: opts.plan.boot,
    payloads: opts.plan.payloads,
    gpuModules: opts.plan.gpuModules,
    name: opts.plan.name,
    version: opts.plan.version,
    components: opts.components.filter((c) => c.executor !== 'skipped').map((c) => [c.id, c.inputsHash, c.outputs.map((o) => o.sha256)]),
    prebuilt: prebuiltModules(opts).map((m) => [m.name, existsSync(join(opts.root, m.source)) ? sha256File(join(opts.root, m.source)) : 'missing']),
    sourceDateEpoch: opts.sourceDateEpoch,
  };
  return createHash('sha256').update(JSON.stringify(material)).digest('hex');
}

/** The existing image when it was built from the same key and still matches its manifest. */
function upToDate(outDir: string, key: string): Manifest | undefined {
  const path = join(outDir, 'manifest.json');
  if (!existsSync(path)) return undefined;
  try {
    const m = readManifest(path);
    // A manifest from before contentKey is rewritten once, so that release can compare it.
    if (m.buildKey !== key || !m.contentKey) return undefined;
    for (const f of m.files) if (!existsSync(join(outDir, f.path)) || sha256File(join(outDir, f.path)) !== f.sha256) return undefined;
    return m;
  } catch {
    return undefined;
  }
}

/**
 * Each built component's debug file into `debug/` beside the image (not inside it): what fault
 * reports are symbolized with.
 */
function copyDebug(opts: AssembleOptions, stage: string): Manifest['debug'] {
  const built = opts.plan.debug.filter((d) => existsSync(join(opts.root, d.source)) && opts.components.some((c) => c.id === d.component && c.executor !== 'skipped'));
  if (built.length) mkdirSync(join(stage, 'debug'), { recursive: true });
  return built.map((d) => {
    copyFileSync(join(opts.root, d.source), join(stage, d.file));
    utimesSync(join(stage, d.file), opts.sourceDateEpoch, opts.sourceDateEpoch);
    return { component: d.component, name: d.name, file: d.file, sha256: sha256File(join(stage, d.file)) };
  });
}

export async function assembleImage(opts: AssembleOptions): Promise<AssembleResult & { upToDate: boolean }> {
  for (const m of prebuiltModules(opts)) checkLinuxExecutable(m.name, join(opts.root, m.source));
  const key = buildKey(opts, toolFingerprints(opts.format));
  const existing = upToDate(opts.outDir, key);
  if (existing) return { dir: opts.outDir, manifest: existing, upToDate: true };
  const format = getFormat(opts.format);
  const tools = await format.toolVersions();
  const parent = join(opts.outDir, '..');
  mkdirSync(parent, { recursive: true });
  // Staging directories left by killed builds are never images; clear them out.
  for (const name of readdirSync(parent)) {
    if (name.startsWith(`.${basename(opts.outDir)}.tmp-`) || name.startsWith(`${basename(opts.outDir)}.old-`)) rmSync(join(parent, name), { recursive: true, force: true });
  }
  const stage = mkdtempSync(join(parent, `.${basename(opts.outDir)}.tmp-`));
  const env = { SOURCE_DATE_EPOCH: String(opts.sourceDateEpoch), TZ: 'UTC', LC_ALL: 'C' };
  try {
    const { files, boot } = await format.assemble(stage, opts, env);
    rmSync(join(stage, 'tree'), { recursive: true, force: true });
    rmSync(join(stage, 'work'), { recursive: true, force: true });
    const fileEntries = files.map((f) => ({ path: f, sha256: sha256File(join(stage, f)), size: statSync(join(stage, f)).size }));
    const payloadDir = format.paths.payloads;
    const payloads = builtPayloads(opts).map((p) => ({ name: p.name, lang: p.lang, version: p.version, file: `${payloadDir}/${p.file}`, sha256: sha256File(join(opts.root, p.source)) }));
    const gpuDir = format.paths.gpu;
    const gpuModules = builtGpuModules(opts).map((g) => {
      const gm = readGpuModule(join(opts.root, g.manifestSource));
      const fatbinSha = sha256File(join(opts.root, g.fatbinSource));
      if (fatbinSha !== gm.fatbin.sha256) throw new AbortError(`${g.manifestSource} does not describe ${g.fatbinSource} (sha256 differs)`, { code: 'CHECK_FAILED' });
      return { name: g.name, version: g.version, fatbin: `${gpuDir}/${g.name}/module.fatbin`, manifest: `${gpuDir}/${g.name}/module.json`, sha256: fatbinSha, manifestSha256: sha256File(join(opts.root, g.manifestSource)), archs: gm.archs, entryPoints: gm.entryPoints.map((e) => e.name) };
    });
    // Function modules: the signature table of each one built (its boot module is in the image).
    const sandboxModules = (opts.plan.sandboxModules ?? []).flatMap((sm) => {
      const mod = boot.modules.find((m) => m.name === sm.name);
      if (!mod) return [];
      return [{ name: sm.name, version: sm.version, lang: sm.lang, file: mod.file, sha256: mod.sha256, functions: readGuestSignatures(sm.name, join(opts.root, sm.source)) }];
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
      sandboxModules,
      debug: copyDebug(opts, stage),
      tools,
      buildKey: key,
      contentKey: contentKey(opts),
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
