/**
 * Builder-image recipes. Nothing can be pulled here, so the base is a debootstrap rootfs
 * imported with `docker import`, and each toolchain is a layer on top of it made from the
 * host's pinned toolchain (copied in) and/or Debian packages.
 */
import { dirname } from 'node:path';
import type { ToolchainName } from '../config/schema.js';
import { probeVersion, runCommand } from '../exec.js';
import { WORKSPACE_DIR } from '../workspace.js';

export const BASE_SUITE = 'bookworm';
export const BASE_PACKAGES = ['binutils', 'gcc', 'libc6-dev', 'make', 'ca-certificates', 'xz-utils'];
export const DEFAULT_MIRROR = 'http://deb.debian.org/debian';
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ContextCopy {
  /** Absolute host directory to copy into the build context. */
  from: string;
  /** Sub-directories of `from` to take (all when omitted). */
  only?: string[];
  /** Directory name inside the build context. */
  to: string;
}

export interface LayerRecipe {
  toolchain: Exclude<ToolchainName, 'base'>;
  /** Version of the toolchain that goes in (also recorded as a label). */
  version: string;
  dockerfile: string;
  context: ContextCopy[];
  /** The layer runs apt-get during the build, so the build needs the network. */
  needsNetwork: boolean;
}

export async function rustRecipe(baseImage: string): Promise<LayerRecipe | undefined> {
  const version = await probeVersion('rustc', ['--version']);
  if (!version) return undefined;
  const sysroot = (await runCommand('rustc', ['--print', 'sysroot'])).stdout.trim();
  return {
    toolchain: 'rust',
    version,
    needsNetwork: false,
    context: [{ from: sysroot, only: ['bin', 'lib'], to: 'rust' }],
    dockerfile: [
      `FROM ${baseImage}`,
      'COPY rust/ /opt/rust/',
      `ENV PATH=/opt/rust/bin:${SYSTEM_PATH} CARGO_HOME=/tmp/cargo CARGO_TERM_COLOR=never`,
      `LABEL dev.tars.toolchain=rust dev.tars.version="${version}"`,
      'RUN rustc --version && cargo --version',
    ].join('\n'),
  };
}

export async function dotnetRecipe(baseImage: string): Promise<LayerRecipe | undefined> {
  const version = await probeVersion('dotnet', ['--version']);
  if (!version) return undefined;
  const info = await runCommand('dotnet', ['--list-sdks'], { reject: false });
  const sdkLine = info.stdout.trim().split('\n').pop() ?? '';
  const match = /\[(.+)\]$/.exec(sdkLine);
  const root = match?.[1] ? dirname(match[1]) : '/usr/share/dotnet';
  return {
    toolchain: 'dotnet',
    version: `.NET SDK ${version}`,
    needsNetwork: true,
    context: [{ from: root, to: 'dotnet' }],
    dockerfile: [
      `FROM ${baseImage}`,
      'RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends clang zlib1g-dev libicu72 lld && rm -rf /var/lib/apt/lists/*',
      'COPY dotnet/ /usr/share/dotnet/',
      `ENV PATH=/usr/share/dotnet:${SYSTEM_PATH} DOTNET_ROOT=/usr/share/dotnet DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_CLI_HOME=/tmp NUGET_PACKAGES=/workspace/${WORKSPACE_DIR}/nuget`,
      `LABEL dev.tars.toolchain=dotnet dev.tars.version="${version}"`,
      'RUN dotnet --version',
    ].join('\n'),
  };
}

const CUDA_VERSION = 'nvidia-cuda-toolkit 11.8 (Debian bookworm non-free)';

export function cudaRecipe(baseImage: string): LayerRecipe {
  return {
    toolchain: 'cuda',
    version: CUDA_VERSION,
    needsNetwork: true,
    context: [],
    dockerfile: [
      `FROM ${baseImage}`,
      // clang-14 is nvcc's host compiler on the host too (the same bytes); jq writes the module manifest.
      "RUN sed -i 's/ main$/ main contrib non-free non-free-firmware/' /etc/apt/sources.list && apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nvidia-cuda-toolkit clang-14 jq && rm -rf /var/lib/apt/lists/*",
      `LABEL dev.tars.toolchain=cuda dev.tars.version="${CUDA_VERSION}"`,
      'RUN nvcc --version',
    ].join('\n'),
  };
}
