import { Flags } from '@oclif/core';
import { AbortError, formatTable, outputInfo, outputResult, type ExecutorKind } from '@tars/core';
import { buildSandboxModule, formatSignature, type BuildSandboxModuleResult } from '@tars/image-builder';
import { relative } from 'node:path';
import { BaseCommand } from '../../../base-command.js';
import { executorFlag } from '../../../flags.js';

export default class OsHyperlightBuildKernels extends BaseCommand<typeof OsHyperlightBuildKernels, BuildSandboxModuleResult> {
  static override summary = "Build a function module: its guest image and its CUDA kernels, and write its manifest";
  static override description =
    "Builds the guest (Rust or C) and, when the module's directory has them (kernels/ with scripts/build-fatbin.sh), its CUDA kernels, each as `os build` builds a component: in its builder container (or on the host with --executor host), through the cache, the same bytes every time. Reads each exported function's signature out of the guest image (section .tars_sbsig) and writes the module's manifest to .tars/hyperlight/NAME/manifest.json. Without a CUDA toolchain the kernels are reported as skipped. --verify-reproducible builds a second time without the cache and compares every output's sha256 (exit 7 when they differ). Progress goes to stderr; --json prints the manifest and the steps.";
  static override examples = ['<%= config.bin %> os hyperlight build-kernels --module scorer', '<%= config.bin %> os hyperlight build-kernels --module policy --executor host --verify-reproducible --json'];
  static override flags = {
    module: Flags.string({ char: 'm', description: 'The function module (an agent with "sandbox": true)', required: true }),
    executor: executorFlag,
    cache: Flags.boolean({ description: 'Use the component cache (--no-cache rebuilds)', default: true, allowNo: true }),
    'verify-reproducible': Flags.boolean({ description: 'Build again without the cache and compare the sha256 of every output', default: false }),
  };

  async execute(): Promise<BuildSandboxModuleResult> {
    const { config, root, filepath } = await this.loadConfig({ 'executor.default': this.flags.executor });
    const r = await buildSandboxModule({
      root,
      config,
      ...(filepath ? { configFile: filepath } : {}),
      module: this.flags.module,
      executor: config.executor.default as ExecutorKind | 'auto',
      useCache: this.flags.cache,
      verifyReproducible: this.flags['verify-reproducible'],
      signal: this.signal,
      onStep: outputInfo,
    });
    if (r.reproducible && !r.reproducible.identical) {
      const diff = r.reproducible.outputs.filter((o) => o.first !== o.second).map((o) => o.path);
      throw new AbortError(`${this.flags.module} is not reproducible: ${diff.join(', ')} differ between two builds`, { code: 'CHECK_FAILED' });
    }
    return r;
  }

  protected render(r: BuildSandboxModuleResult): void {
    const m = r.manifest;
    outputResult(`${m.name} ${m.version} (${m.lang}): ${m.guest.file} sha256 ${m.guest.sha256}`);
    outputResult(formatTable(['function', 'params', 'result'], m.functions.map((f) => [f.name, f.params.join(', ') || '-', f.result])));
    if (m.kernels.status === 'built') outputResult(`CUDA kernels: ${m.kernels.fatbin} sha256 ${m.kernels.sha256} (${m.kernels.archs.join(', ')}; ${m.kernels.entryPoints.join(', ')})`);
    else if (m.kernels.status === 'skipped') outputResult(`CUDA kernels: skipped (${m.kernels.reason})`);
    if (r.reproducible) outputResult(`Reproducible: ${r.reproducible.outputs.length} outputs, the same sha256 in two builds`);
    outputResult(`Manifest: ${relative(process.cwd(), r.manifestFile) || r.manifestFile} (${m.functions.map(formatSignature).length} functions)`);
  }
}
