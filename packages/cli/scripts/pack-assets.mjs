// prepack: put what `tarscli init`, `agent new` and `os simulate` need into the npm package
// (assets/): the agent templates, the kernel workspace sources, the .NET agent SDK (the part of
// dotnet-interop an agent build reads) and the GPU module sources (runner, CPU reference,
// kernels). In the repository they are read in place.
import { cpSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { relative } from 'node:path';

const pkg = fileURLToPath(new URL('..', import.meta.url));
const repo = fileURLToPath(new URL('../../..', import.meta.url));
const assets = `${pkg}assets`;
rmSync(assets, { recursive: true, force: true });

// The same parts of dotnet-interop and gpu-modules that `tarscli init` copies from the repository.
const { DOTNET_SDK_PARTS, GPU_SOURCE_PARTS, sourcePartsFilter } = await import('@tars/image-builder');
const copy = (from, to, parts) => cpSync(from, to, { recursive: true, filter: parts ? sourcePartsFilter(from, parts) : () => true });
const kernel = `${repo}packages/kernel-rs`;
copy(`${repo}templates`, `${assets}/templates`);
cpSync(kernel, `${assets}/kernel`, { recursive: true, filter: (src) => !['target', 'out', 'node_modules', '.test-results'].includes(relative(kernel, src).split('/')[0]) });
copy(`${repo}packages/dotnet-interop`, `${assets}/dotnet`, DOTNET_SDK_PARTS);
copy(`${repo}packages/gpu-modules`, `${assets}/gpu`, GPU_SOURCE_PARTS);
