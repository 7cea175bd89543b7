/**
 * Picks the executor for a toolchain: `docker` when an engine answers and the builder
 * image exists, else `host` with a visible warning. An explicit `docker` fails loudly.
 */
import type { TarsConfig, ToolchainName } from '../config/schema.js';
import { inspectImage, pingEngine } from '../docker.js';
import { AbortError } from '../errors.js';
import { outputWarn } from '../output.js';
import { DockerExecutor } from './docker.js';
import { HostExecutor } from './host.js';
import type { Executor, ExecutorKind } from './types.js';

export interface SelectExecutorOptions {
  config: TarsConfig;
  toolchain: ToolchainName;
  /** Overrides `config.executor.default`. */
  kind?: ExecutorKind | 'auto';
}

export async function selectExecutor(options: SelectExecutorOptions): Promise<Executor> {
  const kind = options.kind ?? options.config.executor.default;
  if (kind === 'host') return new HostExecutor();
  const image = options.config.toolchains[options.toolchain].image;
  const engine = await pingEngine();
  const found = engine ? await inspectImage(image) : undefined;
  if (engine && found) return new DockerExecutor(image);
  const reason = engine ? `builder image ${image} does not exist` : 'no Docker engine answers';
  if (kind === 'docker') {
    throw new AbortError(`Cannot use the docker executor for ${options.toolchain}: ${reason}`, {
      code: engine ? 'IMAGE_MISSING' : 'DOCKER_UNAVAILABLE',
      tryMessage: engine
        ? `Run \`tarscli toolchain bootstrap --only ${options.toolchain}\` or set toolchains.${options.toolchain}.image.`
        : 'Start the Docker engine (`dockerd &`) or pass `--executor host`.',
    });
  }
  outputWarn(`${options.toolchain}: ${reason}; running on the host toolchain (not hermetic)`);
  return new HostExecutor();
}
