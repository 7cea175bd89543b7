/**
 * The `os update-kernel` service: take the module image (a given file, or the agent built through
 * the component cache like `os build` builds it), and hot-swap it into a running deployment
 * through its deployer's control channel.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AbortError, workspace, type ExecutorKind, type TarsConfig } from '@tars/core';
import { agentComponentId, buildComponent, checkSources, ComponentCache, createBuildPlan, linuxExecutableProblem, readManifest } from '@tars/image-builder';
import { deployerOf } from './deployers.js';
import type { DeploymentRecord } from './deployments.js';
import { hotSwapModule, type SwapResult } from './hot-swap.js';
import { findHostWindow } from './host-window.js';

export interface UpdateModuleOptions {
  root: string;
  config: TarsConfig;
  deployment: DeploymentRecord;
  module: string;
  /** A prebuilt module ELF; default: build the agent from the config (cached). */
  file?: string;
  version?: string;
  timeoutMs: number;
  signal?: AbortSignal;
  onInfo?: (line: string) => void;
  /** Bytes sent of the module image, as the transfer goes. */
  onProgress?: (sent: number, total: number) => void;
}

/**
 * A CUDA module is not a kernel module: the kernel would answer NO_SUCH_MODULE after the whole
 * transfer. Refused here, from the config and from the running image's manifest.
 */
function refuseGpuModule(opts: UpdateModuleOptions): void {
  const agent = opts.config.agents.find((a) => a.name === opts.module);
  let inImage = false;
  try {
    inImage = readManifest(join(opts.deployment.image.dir, 'manifest.json')).gpuModules.some((g) => g.name === opts.module);
  } catch {
    // no readable manifest beside the deployed image: the config decides alone
  }
  if (agent?.lang === 'cuda' || inImage) {
    throw new AbortError(`${opts.module} is a CUDA module, not a kernel module: \`os update-kernel\` swaps agents only`, {
      code: 'USAGE',
      tryMessage: 'GPU modules ship in the image: rebuild it (`tarscli os build`) and deploy it again.',
    });
  }
}

export async function updateModule(opts: UpdateModuleOptions): Promise<SwapResult> {
  const agent = opts.config.agents.find((a) => a.name === opts.module);
  refuseGpuModule(opts);
  let imagePath: string;
  if (opts.file) imagePath = resolve(opts.file);
  else {
    checkSources(opts.config, opts.root);
    const step = createBuildPlan(opts.config).steps.find((s) => s.id === agentComponentId(opts.module));
    if (!step) throw new AbortError(`No agent named ${opts.module} in the config`, { code: 'NOT_FOUND', tryMessage: 'Pass --file, or add the agent to tars.config.json.' });
    const cache = new ComponentCache(resolve(opts.root, opts.config.cache.dir), opts.config.cache.maxSizeMb * 1024 * 1024);
    const built = await buildComponent(step, {
      root: opts.root,
      config: opts.config,
      cache,
      executor: opts.config.executor.default as ExecutorKind | 'auto',
      logDir: workspace(opts.root).buildLogs,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    opts.onInfo?.(`${step.id}: ${built.executor === 'cache' ? 'cached' : `built (${built.executor})`}`);
    imagePath = join(opts.root, step.outputs[0] as string);
  }
  let image: Buffer;
  try {
    image = readFileSync(imagePath);
  } catch (err) {
    throw new AbortError(`Cannot read the module image ${imagePath} (${err instanceof Error ? err.message : String(err)})`, { code: 'NOT_FOUND' });
  }
  // Checked before anything is sent: the kernel loads static x86-64 ELF executables only.
  const problem = linuxExecutableProblem(image);
  if (problem) {
    throw new AbortError(`${imagePath} is ${problem}; nothing was sent`, {
      code: 'USAGE',
      tryMessage: opts.file ? 'Pass the module ELF the agent build wrote (e.g. packages/kernel-rs/out/agents/<name>.elf), or leave --file out to build it.' : 'Rebuild the agent (`tarscli os build`).',
    });
  }
  const client = await deployerOf(opts.deployment).control(opts.deployment);
  try {
    const window = await findHostWindow(client, opts.deployment.runDir);
    return await hotSwapModule(client, {
      ...(window ? { window } : {}),
      module: opts.module,
      image,
      version: opts.version ?? agent?.version ?? '0.0.0',
      timeoutMs: opts.timeoutMs,
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
  } finally {
    client.close();
  }
}
