/**
 * A release bundles images of one build of one config. Images of several formats are built by
 * separate `os build --format …` runs: a fresh dist/iso beside a stale dist/kernel from another
 * config (other agents, other kernel sources) would be published together, with notes that list
 * agents one of the assets does not contain. The manifests say what each image is made of;
 * they must agree on everything but the format.
 */
import { relative } from 'node:path';
import { AbortError } from '@tars/core';
import type { Manifest } from '@tars/image-builder';

export interface ImageEntry {
  dir: string;
  manifest: Manifest;
}

/** The differences between two images' contents, each as one phrase (empty: the same build). */
export function contentDifferences(a: Manifest, b: Manifest): string[] {
  const out: string[] = [];
  const list = (xs: string[]) => (xs.length ? xs.join(', ') : 'none');
  const cmp = (what: string, x: string[], y: string[]) => {
    if (JSON.stringify(x) !== JSON.stringify(y)) out.push(`${what}: ${list(x)} vs ${list(y)}`);
  };
  if (a.name !== b.name || a.version !== b.version) out.push(`name/version: ${a.name} ${a.version} vs ${b.name} ${b.version}`);
  cmp('agents', a.boot.modules.map((m) => `${m.name}@${m.version}`), b.boot.modules.map((m) => `${m.name}@${m.version}`));
  const agentDiff = a.boot.modules.filter((m) => {
    const o = b.boot.modules.find((n) => n.name === m.name && n.version === m.version);
    return o && (o.sha256 !== m.sha256 || o.args !== m.args);
  });
  if (agentDiff.length) out.push(`agents built differently (code or capabilities): ${agentDiff.map((m) => m.name).join(', ')}`);
  cmp('.NET agents', a.payloads.map((p) => `${p.name}@${p.version}:${p.sha256.slice(0, 12)}`), b.payloads.map((p) => `${p.name}@${p.version}:${p.sha256.slice(0, 12)}`));
  cmp('GPU modules', a.gpuModules.map((g) => `${g.name}@${g.version}:${g.sha256.slice(0, 12)}`), b.gpuModules.map((g) => `${g.name}@${g.version}:${g.sha256.slice(0, 12)}`));
  const comp = (m: Manifest) => new Map(m.components.map((c) => [c.id, `${c.inputsHash}:${c.outputs.map((o) => o.sha256).join(',')}`]));
  const ca = comp(a);
  const cb = comp(b);
  const changed = [...ca.keys()].filter((id) => cb.has(id) && cb.get(id) !== ca.get(id));
  if (changed.length) out.push(`built from other sources: ${changed.join(', ')}`);
  if (out.length === 0 && a.contentKey && b.contentKey && a.contentKey !== b.contentKey) out.push('built from another config or other sources (contentKey differs)');
  return out;
}

/** Throws CHECK_FAILED unless every image comes from one build of one config. */
export function checkOneBuild(images: ImageEntry[], cwd = process.cwd()): void {
  const [first, ...rest] = images;
  if (!first) return;
  const label = (d: string) => relative(cwd, d) || d;
  const problems: string[] = [];
  for (const other of rest) {
    for (const d of contentDifferences(first.manifest, other.manifest)) problems.push(`${label(first.dir)} vs ${label(other.dir)}: ${d}`);
  }
  if (problems.length === 0) return;
  const formats = images.map((i) => i.manifest.format);
  throw new AbortError(`The images do not come from one build of one config; refusing to bundle them into one release`, {
    code: 'CHECK_FAILED',
    nextSteps: [
      ...problems,
      `Rebuild them from the current config: ${formats.map((f) => `tarscli os build --format ${f}`).join(' && ')}`,
      `or publish only some: ${formats.map((f) => `--format ${f}`).join(' / ')}`,
    ],
  });
}
