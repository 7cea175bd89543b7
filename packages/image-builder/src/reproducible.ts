/**
 * `os build --verify-reproducible`: copy the sources into two separate directories (so paths
 * differ), build every component in each through the executor in use from an empty cache (the
 * remote cache is not consulted), and compare every component output and image file byte for
 * byte. Names the first differing component and file, and summarises it with diffoscope.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { probeVersion, runCommand, runTasks, workspace, WORKSPACE_DIR, type ExecutorKind, type TarsConfig } from '@tars/core';
import type { ImageFormat } from './assemble.js';
import { checkSources } from './sources.js';
import { buildTasks, newBuildContext, type BuildContext } from './build.js';
import { sourceInfo } from './source-info.js';

export interface ReproReport {
  identical: boolean;
  format: ImageFormat;
  /** e.g. `component kernel: packages/kernel-rs/out/tars-kernel.elf` or `image file tars-os-0.1.0.iso`. */
  firstDifference: string | null;
  files: { path: string; sha256: string }[];
  dirs: [string, string];
  /** The full diffoscope report of the first difference (a file under .tars/). */
  diffoscope: string | null;
  /** Its first lines, for the terminal. */
  diffoscopeSummary: string[];
}

const SUMMARY_LINES = 40;

const SKIP = new Set(['node_modules', 'target', 'out', 'dist', WORKSPACE_DIR, '.turbo', '.git', '.test-results']);

async function sourceFiles(root: string): Promise<string[] | undefined> {
  const r = await runCommand('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: root, reject: false }).catch(() => undefined);
  if (!r || r.exitCode !== 0) return undefined;
  return r.stdout.split('\0').filter(Boolean);
}

async function copySources(root: string, to: string): Promise<void> {
  const files = await sourceFiles(root);
  if (files) {
    for (const f of files) {
      if (f.split('/').some((part) => SKIP.has(part))) continue;
      mkdirSync(join(to, dirname(f)), { recursive: true });
      try {
        cpSync(join(root, f), join(to, f));
      } catch {
        // deleted but still listed
      }
    }
    return;
  }
  cpSync(root, to, { recursive: true, filter: (src) => !src.split('/').some((part) => SKIP.has(part)) });
}

export async function verifyReproducible(opts: {
  root: string;
  config: TarsConfig;
  format: ImageFormat;
  executor: ExecutorKind | 'auto';
  signal?: AbortSignal;
  keep?: boolean;
  configFile?: string;
}): Promise<ReproReport> {
  checkSources(opts.config, opts.root, opts.configFile);
  const source = await sourceInfo(opts.root);
  const base = mkdtempSync(join(tmpdir(), 'tars-repro-'));
  const dirs: [string, string] = [join(base, 'a'), join(base, 'b')];
  const results: BuildContext[] = [];
  // From scratch means from scratch: no shared remote tier either.
  const config: TarsConfig = { ...opts.config, cache: { ...opts.config.cache, remote: { ...opts.config.cache.remote, read: false, write: false } } };
  try {
    for (const dir of dirs) {
      await copySources(opts.root, dir);
      const ctx = newBuildContext(config, dir);
      await runTasks(
        buildTasks({ root: dir, config, format: opts.format, executor: opts.executor, useCache: true, source, ...(opts.signal ? { signal: opts.signal } : {}) }, ctx.plan),
        ctx,
      );
      results.push(ctx);
    }
    const [a, b] = results as [BuildContext, BuildContext];
    let firstDifference: string | null = null;
    let diffPair: [string, string] | undefined;
    for (const ca of a.components) {
      const cb = b.components.find((c) => c.id === ca.id);
      for (const oa of ca.outputs) {
        const ob = cb?.outputs.find((o) => o.path === oa.path);
        if (!ob || ob.sha256 !== oa.sha256) {
          firstDifference ??= `component ${ca.id}: ${oa.path}`;
          diffPair ??= [join(dirs[0], oa.path), join(dirs[1], oa.path)];
        }
      }
    }
    const filesA = a.image?.manifest.files ?? [];
    const filesB = b.image?.manifest.files ?? [];
    for (const fa of filesA) {
      const fb = filesB.find((f) => f.path === fa.path);
      if (!fb || fb.sha256 !== fa.sha256) {
        firstDifference ??= `image file ${fa.path}`;
        diffPair ??= [join(a.image?.dir ?? '', fa.path), join(b.image?.dir ?? '', fa.path)];
      }
    }
    let diffoscope: string | null = null;
    let diffoscopeSummary: string[] = [];
    if (diffPair && (await probeVersion('diffoscope'))) {
      diffoscope = join(workspace(opts.root).dir, 'diffoscope.txt');
      mkdirSync(dirname(diffoscope), { recursive: true });
      await runCommand('diffoscope', ['--no-progress', '--text', diffoscope, ...diffPair], { reject: false, ...(opts.signal ? { signal: opts.signal } : {}) });
      if (existsSync(diffoscope)) diffoscopeSummary = readFileSync(diffoscope, 'utf8').split('\n').slice(0, SUMMARY_LINES);
    }
    return { identical: firstDifference === null, format: opts.format, firstDifference, files: filesA.map((f) => ({ path: f.path, sha256: f.sha256 })), dirs, diffoscope, diffoscopeSummary };
  } finally {
    if (!opts.keep) rmSync(base, { recursive: true, force: true });
  }
}
