import { Flags } from '@oclif/core';
import { EXIT_CODES, formatTable, outputResult, type ExecutorKind } from '@tars/core';
import { buildImage, checkSources, newBuildContext, verifyReproducible, type BuildPlan, type ComponentResult, type Manifest, type ReproReport } from '@tars/image-builder';
import { join, resolve } from 'node:path';
import { BaseCommand } from '../../base-command.js';
import { executorFlag, formatFlag } from '../../flags.js';

type Result =
  | { kind: 'plan'; plan: BuildPlan }
  | { kind: 'image'; dir: string; manifest: Manifest; components: ComponentResult[]; durationMs: number }
  | { kind: 'reproducibility'; report: ReproReport };

export default class OsBuild extends BaseCommand<typeof OsBuild, Result> {
  static override summary = 'Build every component and assemble a bootable TARS OS image';
  static override description =
    'Component steps (kernel, Rust agents) run in their builder containers (network off) or on the host, cached by the hash of their inputs and toolchain in .tars/cache. The image and its manifest.json and SHA256SUMS land in <image.outDir>/<format>. With --json the manifest is printed.';
  static override examples = [
    '<%= config.bin %> os build',
    '<%= config.bin %> os build --format kernel --executor host',
    '<%= config.bin %> os build --dry-run --json',
    '<%= config.bin %> os build --format raw --output /srv/images/tars',
    '<%= config.bin %> os build --verify-reproducible',
  ];

  static override flags = {
    format: formatFlag,
    executor: executorFlag,
    cache: Flags.boolean({ description: 'Use the component cache (--no-cache rebuilds everything)', default: true, allowNo: true }),
    output: Flags.string({ char: 'o', description: 'Directory for the image, manifest.json and SHA256SUMS (default: <image.outDir>/<format>)' }),
    'dry-run': Flags.boolean({ description: 'Print the build plan and exit', default: false }),
    'verify-reproducible': Flags.boolean({ description: 'Build twice from clean caches in separate directories and compare', default: false }),
  };

  async execute(): Promise<Result> {
    const { config, root, filepath } = await this.loadConfig({ 'image.format': this.flags.format, 'executor.default': this.flags.executor });
    const executor = config.executor.default as ExecutorKind | 'auto';
    const format = config.image.format;
    const configFile = filepath ?? undefined;
    if (this.flags['dry-run']) {
      checkSources(config, root, configFile);
      return { kind: 'plan', plan: newBuildContext(config, root).plan };
    }
    if (this.flags['verify-reproducible']) {
      const report = await verifyReproducible({ root, config, format, executor, signal: this.signal, ...(configFile ? { configFile } : {}) });
      // A check that cannot fail is a defect: a difference exits CHECK_FAILED, in text and --json.
      if (!report.identical) process.exitCode = EXIT_CODES.CHECK_FAILED;
      return { kind: 'reproducibility', report };
    }
    const outDir = this.flags.output ? resolve(this.flags.output) : undefined;
    const built = await buildImage({ root, config, format, executor, useCache: this.flags.cache, signal: this.signal, ...(outDir ? { outDir } : {}), ...(configFile ? { configFile } : {}) });
    return { kind: 'image', ...built };
  }

  protected override toSuccessJson(result: unknown): unknown {
    const r = result as Result;
    // --json prints the manifest itself for builds, the plan for --dry-run.
    const body = r.kind === 'image' ? { ...r.manifest, dir: r.dir, build: { durationMs: r.durationMs, components: r.components } } : r.kind === 'plan' ? r.plan : r.report;
    return super.toSuccessJson(body);
  }

  protected render(r: Result): void {
    if (r.kind === 'plan') {
      outputResult(formatTable(['step', 'toolchain', 'command', 'outputs'], r.plan.steps.map((s) => [s.id, s.toolchain, s.command.join(' '), s.outputs.join(' ')])));
      outputResult(`boot: ${r.plan.boot.kernelSource} + ${r.plan.boot.modules.map((m) => `${m.name} (${m.args})`).join(', ') || 'no modules'}`);
      return;
    }
    if (r.kind === 'reproducibility') {
      if (r.report.identical) {
        outputResult(`Reproducible: both builds produced identical ${r.report.format} images (${r.report.files.map((f) => `${f.path} ${f.sha256.slice(0, 16)}`).join(', ')})`);
      } else {
        outputResult(`NOT reproducible: ${r.report.firstDifference}`);
        outputResult('Two builds from clean caches in different directories gave different bytes (exit 7).');
        for (const line of r.report.diffoscopeSummary) outputResult(`  ${line}`);
      }
      if (r.report.diffoscope) outputResult(`diffoscope report: ${r.report.diffoscope}`);
      return;
    }
    outputResult(
      formatTable(
        ['component', 'how', 'size', 'time', 'sha256'],
        r.components.map((c) => [c.id, c.executor === 'cache' ? 'cache hit' : c.executor, String(c.outputs.reduce((n, o) => n + o.size, 0)), `${Math.round(c.durationMs)} ms`, c.outputs[0]?.sha256.slice(0, 16) ?? '']),
      ),
    );
    for (const f of r.manifest.files) outputResult(`${join(r.dir, f.path)}  ${f.size} bytes  sha256 ${f.sha256}`);
    outputResult(`built in ${r.durationMs} ms; manifest: ${join(r.dir, 'manifest.json')}`);
  }
}
