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

/** Copies `from` to `to`: only the top-level entries in `keep` (all when omitted), never a build output. */
function copy(from, to, { keep, drop }) {
  cpSync(from, to, {
    recursive: true,
    filter: (src) => {
      const parts = relative(from, src).split('/').filter(Boolean);
      if (parts.length === 0) return true;
      if (keep && !keep.includes(parts[0])) return false;
      return !parts.some((p) => drop.includes(p));
    },
  });
}
copy(`${repo}templates`, `${assets}/templates`, { drop: [] });
copy(`${repo}packages/kernel-rs`, `${assets}/kernel`, { drop: ['target', 'out', 'node_modules', '.test-results'] });
copy(`${repo}packages/dotnet-interop`, `${assets}/dotnet`, { keep: ['sdk', 'scripts', 'native', 'generated'], drop: ['bin', 'obj', 'out'] });
copy(`${repo}packages/gpu-modules`, `${assets}/gpu`, { keep: ['runner', 'reference', 'kernels', 'scripts'], drop: ['out'] });
