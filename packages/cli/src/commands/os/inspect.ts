import { Args } from '@oclif/core';
import { color, EXIT_CODES, formatTable, outputResult } from '@tars/core';
import { inspectImage, type InspectReport } from '@tars/image-builder';
import { BaseCommand } from '../../base-command.js';

export default class OsInspect extends BaseCommand<typeof OsInspect, InspectReport> {
  static override summary = 'Read an image back and verify it against its manifest';
  static override description = 'Checks the sha256 of every image file and, for iso and raw images, of the kernel and modules inside the image. Exits 7 when anything differs.';
  static override examples = ['<%= config.bin %> os inspect dist/iso', '<%= config.bin %> os inspect dist/raw/tars-os-0.1.0.img --json'];
  static override args = {
    image: Args.string({ description: 'Image directory, image file or manifest.json', required: true }),
  };

  async execute(): Promise<InspectReport> {
    const report = await inspectImage(this.args.image);
    if (!report.ok) process.exitCode = EXIT_CODES.CHECK_FAILED;
    return report;
  }

  protected render(r: InspectReport): void {
    const m = r.manifest;
    outputResult(`${m.name} ${m.version} (${m.format}) from ${m.git.revision.slice(0, 12)}${m.git.dirty ? '+dirty' : ''}, SOURCE_DATE_EPOCH ${m.sourceDateEpoch}`);
    outputResult(formatTable(['component', 'toolchain', 'inputs', 'sha256', 'size'], m.components.map((c) => [c.id, c.toolchain.version, c.inputsHash.slice(0, 12), c.outputs[0]?.sha256.slice(0, 16) ?? '', String(c.outputs[0]?.size ?? 0)])));
    // Linux-executable agents (abi=linux) say so, with their memory limit when they have one.
    const linux = (args: string) => {
      if (!/(^| )abi=linux( |$)/.test(args)) return '';
      const mem = /(?:^| )mem=(\d+)/.exec(args)?.[1];
      return ` (linux${mem ? `, ${mem} MiB` : ''})`;
    };
    outputResult(`boot: ${m.boot.kernel} ${m.boot.modules.map((x) => `${x.name}@${x.version}${linux(x.args)}`).join(' ')} [${m.boot.firmware.join(', ') || 'direct'}]`);
    for (const g of m.gpuModules) outputResult(`gpu module ${g.name}@${g.version}: ${g.fatbin} [${g.archs.join(', ')}] entry points: ${g.entryPoints.join(', ')}`);
    if (m.payloads.length) outputResult(`payloads: ${m.payloads.map((p) => `${p.name}@${p.version} (${p.lang}) ${p.file}`).join(', ')}`);
    outputResult(formatTable(['check', 'result'], r.checks.map((c) => [c.what, c.ok ? color.green('ok') : color.red(`MISMATCH expected ${c.expected.slice(0, 16)} got ${c.actual.slice(0, 16)}`)])));
    outputResult(r.ok ? 'Image verified.' : 'Image does NOT match its manifest.');
  }
}
