/** Release notes generated from image manifests. */
import type { Manifest } from '@tars/image-builder';

const mb = (n: number) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`);

export function releaseNotes(tag: string, manifests: Manifest[]): string {
  const m = manifests[0];
  if (!m) return `TARS OS ${tag}`;
  const lines = [
    `# ${m.name} ${m.version} (${tag})`,
    '',
    `Built from \`${m.git.revision.slice(0, 12)}\`${m.git.dirty ? ' (with uncommitted changes)' : ''}, SOURCE_DATE_EPOCH ${m.sourceDateEpoch}. Images are reproducible: \`tarscli os build --verify-reproducible\`.`,
    '',
    '## Images',
    '',
    '| format | file | size | sha256 | boots with |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const x of manifests) for (const f of x.files) lines.push(`| ${x.format} | \`${f.path}\` | ${mb(f.size)} | \`${f.sha256}\` | ${x.boot.firmware.join(', ') || 'QEMU -kernel'} |`);
  lines.push('', '## Components', '', '| component | toolchain | size | sha256 |', '| --- | --- | --- | --- |');
  for (const c of m.components) for (const o of c.outputs) lines.push(`| ${c.id} | ${c.toolchain.version} | ${mb(o.size)} | \`${o.sha256.slice(0, 16)}\` |`);
  lines.push('', '## Agents', '', '| agent | version | capabilities |', '| --- | --- | --- |');
  for (const a of m.boot.modules) lines.push(`| ${a.name} | ${a.version} | ${a.args.split(' ').filter((w) => /^(serve|call|notify|shm)=/.test(w)).join(', ')} |`);
  lines.push('', 'Verify a download: `sha256sum -c SHA256SUMS`, or `tarscli os inspect DIR` beside its manifest.', '');
  return lines.join('\n');
}
