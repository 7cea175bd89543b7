/**
 * `os build`: the plan's component steps (cached, through executors), then image assembly.
 * `buildTasks` returns the listr2 task list as data so it can be tested and rendered.
 */
import { existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { BugError, runTasks, workspace, type ExecutorKind, type TarsConfig, type TaskSpec } from '@tars/core';
import { assembleImage, type AssembleResult, type ImageFormat } from './assemble.js';
import { ComponentCache } from './cache.js';
import { remoteCacheFromConfig } from './remote-cache.js';
import { buildComponent, type ComponentResult } from './components.js';
import { checkOutputDir } from './output-dir.js';
import { buildFileTree } from './file-tree.js';
import { createBuildPlan, type BuildPlan, type FileTreeSpec } from './plan.js';
import { checkSources } from './sources.js';
import { sourceInfo, type SourceInfo } from './source-info.js';
import { withBuildLock } from './build-lock.js';
import type { Manifest } from './manifest.js';
import { imageDir } from './image-dir.js';
import { appendStepSummary, buildSummaryMarkdown } from './step-summary.js';

export interface BuildOptions {
  root: string;
  config: TarsConfig;
  format: ImageFormat;
  executor: ExecutorKind | 'auto';
  useCache: boolean;
  /** Override config.cache.dir (tests, reproducibility checks). */
  cacheDir?: string;
  /** Override the output directory (default `<outDir>/<format>`). */
  outDir?: string;
  signal?: AbortSignal;
  /** Use this git revision and SOURCE_DATE_EPOCH instead of reading them from `root`. */
  source?: SourceInfo;
  /** The config file, to name in errors about the paths it gives. */
  configFile?: string;
}

export interface BuildContext {
  plan: BuildPlan;
  components: ComponentResult[];
  image?: AssembleResult & { upToDate: boolean };
}

export function buildTasks(opts: BuildOptions, plan: BuildPlan): TaskSpec<BuildContext>[] {
  // Before any work: the image swap replaces the whole output directory.
  const outDir = opts.outDir ?? imageDir(opts.root, opts.config, opts.format);
  checkOutputDir(outDir, opts.root);
  const cache = opts.useCache
    ? new ComponentCache(resolve(opts.root, opts.cacheDir ?? opts.config.cache.dir), opts.config.cache.maxSizeMb * 1024 * 1024)
    : undefined;
  const logDir = workspace(resolve(opts.root)).buildLogs;
  const toolchains = new Map();
  const remoteCache = opts.useCache ? remoteCacheFromConfig(opts.config.cache.remote) : undefined;
  const remote = remoteCache ? { cache: remoteCache, read: opts.config.cache.remote.read, write: opts.config.cache.remote.write } : undefined;
  return [
    // File trees: written from the project's directories into .tars/file-trees (the same bytes
    // for the same tree), then assembled as prebuilt modules whose bytes are in the image key.
    ...plan.fileTrees.map(
      (t): TaskSpec<BuildContext> => ({
        title: `file tree ${t.name} (${t.dir})`,
        run: async (_ctx, task) => {
          const bytes = writeFileTreeArchive(opts.root, t);
          task.title = `file tree ${t.name} (${t.dir}): ${bytes} B`;
        },
      }),
    ),
    ...plan.steps.map(
      (step): TaskSpec<BuildContext> => ({
        title: `${step.id}`,
        run: async (ctx, task) => {
          const r = await buildComponent(step, {
            root: opts.root,
            config: opts.config,
            cache,
            executor: opts.executor,
            logDir,
            toolchains,
            remote,
            ...(opts.signal ? { signal: opts.signal } : {}),
            onLine: (line) => {
              task.output = line;
            },
          });
          ctx.components.push(r);
          const how = r.executor === 'cache' ? 'cached' : r.executor === 'remote-cache' ? 'from the remote cache' : r.executor === 'skipped' ? 'skipped' : `built (${r.executor})`;
          task.title = `${step.id}: ${how} ${r.outputs.map((o) => `${o.size} B`).join(', ')}`;
        },
      }),
    ),
    {
      title: `image (${opts.format})`,
      run: async (ctx, task) => {
        const src = opts.source ?? (await sourceInfo(opts.root));
        ctx.image = await assembleImage({
          root: opts.root,
          plan,
          components: ctx.components,
          format: opts.format,
          outDir,
          sourceDateEpoch: src.sourceDateEpoch,
          git: src.git,
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
        const f = ctx.image.manifest.files[0];
        task.title = `image (${opts.format}): ${join(ctx.image.dir, f?.path ?? '')} ${f?.size ?? 0} B${ctx.image.upToDate ? ' (up to date)' : ''}`;
      },
    },
  ];
}

/** The plan and an empty context; `root` tells whether the project has a `rootfs/` tree. */
export function newBuildContext(config: TarsConfig, root?: string): BuildContext {
  const rootfs = root !== undefined && existsSync(join(root, 'rootfs')) && statSync(join(root, 'rootfs')).isDirectory();
  return { plan: createBuildPlan(config, { projectRootfs: rootfs }), components: [] };
}

/** Write tree `t`'s archive under `root` (atomically: a killed build leaves no half archive); its size. */
export function writeFileTreeArchive(root: string, t: FileTreeSpec): number {
  const bytes = buildFileTree(join(root, t.dir));
  const out = join(root, t.source);
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, out);
  return bytes.length;
}

export interface BuildImageResult {
  dir: string;
  manifest: Manifest;
  components: ComponentResult[];
  durationMs: number;
}

/**
 * The `os build` service: one build per checkout at a time (the build lock), every component
 * step and the image assembly, and in GitHub Actions the summary on the run page.
 */
export async function buildImage(opts: BuildOptions): Promise<BuildImageResult> {
  const started = performance.now();
  checkSources(opts.config, opts.root, opts.configFile);
  const ctx = newBuildContext(opts.config, opts.root);
  await withBuildLock(opts.root, () => runTasks(buildTasks(opts, ctx.plan), ctx));
  if (!ctx.image) throw new BugError('image assembly did not run');
  const durationMs = Math.round(performance.now() - started);
  const m = ctx.image.manifest;
  if (process.env['GITHUB_STEP_SUMMARY']) {
    appendStepSummary(buildSummaryMarkdown({ name: m.name, version: m.version, format: m.format, dir: relative(opts.root, ctx.image.dir), files: m.files, components: ctx.components, durationMs }));
  }
  return { dir: ctx.image.dir, manifest: m, components: ctx.components, durationMs };
}
