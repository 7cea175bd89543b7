import { Args } from '@oclif/core';
import { formatTable, outputResult } from '@tars/core';
import { diffImages, type ImageDiff } from '@tars/image-builder';
import { BaseCommand } from '../../base-command.js';

const size = (n: number | null) => (n === null ? '-' : String(n));
const delta = ([a, b]: [number | null, number | null]) => (a !== null && b !== null && a !== b ? ` (${b - a > 0 ? '+' : ''}${b - a})` : '');

export default class OsDiff extends BaseCommand<typeof OsDiff, ImageDiff> {
  static override summary = 'Compare two images: components, sizes, boot modules with versions and capabilities';
  static override description = 'Reads both manifests; nothing is extracted. `identical` is true when every component, module, file, payload and GPU module has the same hash.';
  static override examples = ['<%= config.bin %> os diff dist/iso /srv/images/v0.1.0', '<%= config.bin %> os diff old/manifest.json dist/kernel --json'];
  static override requiresProject = false;
  static override args = {
    a: Args.string({ description: 'First image (directory, image file or manifest.json)', required: true }),
    b: Args.string({ description: 'Second image', required: true }),
  };

  async execute(): Promise<ImageDiff> {
    return diffImages(this.args.a, this.args.b);
  }

  protected render(d: ImageDiff): void {
    outputResult(`a: ${d.a.name} ${d.a.version} (${d.a.format}) ${d.a.revision.slice(0, 12)}  ${d.a.path}`);
    outputResult(`b: ${d.b.name} ${d.b.version} (${d.b.format}) ${d.b.revision.slice(0, 12)}  ${d.b.path}`);
    if (d.identical) {
      outputResult('identical: every component, module and file has the same hash');
      return;
    }
    outputResult(formatTable(['component', 'change', 'size a', 'size b', 'toolchain'], d.components.map((c) => [c.id, c.change, size(c.size[0]), `${size(c.size[1])}${delta(c.size)}`, c.toolchain[0] === c.toolchain[1] ? (c.toolchain[0] ?? '') : `${c.toolchain[0] ?? '-'} → ${c.toolchain[1] ?? '-'}`])));
    outputResult(
      formatTable(
        ['module', 'change', 'version', 'capabilities'],
        d.modules.map((m) => [m.name, m.change, m.version[0] === m.version[1] ? (m.version[0] ?? '') : `${m.version[0] ?? '-'} → ${m.version[1] ?? '-'}`, [...m.caps.added.map((c) => `+${c}`), ...m.caps.removed.map((c) => `-${c}`)].join(' ')]),
      ),
    );
    outputResult(formatTable(['file', 'change', 'size a', 'size b'], d.files.map((f) => [f.path, f.change, size(f.size[0]), `${size(f.size[1])}${delta(f.size)}`])));
    for (const p of [...d.payloads, ...d.gpuModules].filter((x) => x.change !== 'same')) outputResult(`${p.path}: ${p.change}`);
  }
}
