/**
 * `kernel`: the multiboot kernel and its modules as plain files, for direct boot (QEMU -kernel,
 * libvirt <kernel>/<initrd>, PXE).
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { sha256File } from '../hash-inputs.js';
import type { Manifest } from '../manifest.js';
import { builtGpuModules, builtModules, builtPayloads, copyPayloads, touchTree, type AssembleOptions } from './common.js';
import type { ImageFormatModule } from './format.js';

async function assembleKernelDir(stage: string, opts: AssembleOptions): Promise<void> {
  copyFileSync(join(opts.root, opts.plan.boot.kernelSource), join(stage, 'tars-kernel.elf'));
  mkdirSync(join(stage, 'modules'));
  for (const m of builtModules(opts)) copyFileSync(join(opts.root, m.source), join(stage, 'modules', m.file));
  copyPayloads(opts, join(stage, 'agents'));
  touchTree(stage, opts.sourceDateEpoch);
}

export const kernelFormat: ImageFormatModule = {
  name: 'kernel',
  summary: 'multiboot kernel + modules for direct boot',
  tools: [],
  toolVersions: async () => ({}),
  async assemble(stage, opts) {
    await assembleKernelDir(stage, opts);
    const modules = builtModules(opts);
    const files = [
      'tars-kernel.elf',
      ...modules.map((m) => `modules/${m.file}`),
      ...builtPayloads(opts).map((p) => `agents/${p.file}`),
      ...builtGpuModules(opts).flatMap((g) => [`gpu/${g.name}/module.fatbin`, `gpu/${g.name}/module.json`]),
    ];
    const boot: Manifest['boot'] = {
      kernel: 'tars-kernel.elf',
      cmdline: opts.plan.boot.cmdline,
      modules: modules.map((m) => ({ name: m.name, version: m.version, args: m.args, sha256: sha256File(join(opts.root, m.source)), file: `modules/${m.file}` })),
      firmware: [],
    };
    return { files, boot };
  },
  paths: { payloads: 'agents', gpu: 'gpu' },
  firmware: ['bios'],
  boot(m: Manifest, imageDir: string) {
    return {
      kernel: join(imageDir, m.boot.kernel),
      modules: m.boot.modules.map((x) => ({ path: join(imageDir, x.file), args: x.args })),
      ...(m.boot.cmdline ? { append: m.boot.cmdline } : {}),
    };
  },
  releaseAssetName: (m, file) => `${m.name}-${m.version}-${file.split('/').pop() as string}`,
};
