/** The build summary GitHub Actions shows on the run page ($GITHUB_STEP_SUMMARY). */
import { appendFileSync } from 'node:fs';

export interface SummaryComponent {
  id: string;
  executor: string;
  durationMs: number;
  outputs: { size: number; sha256: string }[];
}

export function buildSummaryMarkdown(input: { name: string; version: string; format: string; dir: string; files: { path: string; size: number; sha256: string }[]; components: SummaryComponent[]; durationMs: number }): string {
  const hits = input.components.filter((c) => c.executor === 'cache' || c.executor === 'remote-cache').length;
  const lines = [
    `### TARS OS ${input.version}: ${input.format} image`,
    '',
    `Built in ${(input.durationMs / 1000).toFixed(1)} s; ${hits} of ${input.components.length} components from cache.`,
    '',
    '| component | how | size | time | sha256 |',
    '| --- | --- | ---: | ---: | --- |',
    ...input.components.map((c) => `| ${c.id} | ${c.executor === 'cache' ? 'cache hit' : c.executor === 'remote-cache' ? 'remote cache hit' : `built (${c.executor})`} | ${c.outputs.reduce((n, o) => n + o.size, 0)} B | ${Math.round(c.durationMs)} ms | \`${c.outputs[0]?.sha256.slice(0, 16) ?? ''}\` |`),
    '',
    '| image file | size | sha256 |',
    '| --- | ---: | --- |',
    ...input.files.map((f) => `| \`${input.dir}/${f.path}\` | ${f.size} B | \`${f.sha256}\` |`),
    '',
  ];
  return lines.join('\n');
}

export function appendStepSummary(markdown: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const path = env['GITHUB_STEP_SUMMARY'];
  if (!path) return false;
  appendFileSync(path, `${markdown}\n`);
  return true;
}
