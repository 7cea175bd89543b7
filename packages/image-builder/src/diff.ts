/**
 * `os diff A B`: what changed between two images, read from their manifests — components
 * (inputs, output hashes and sizes, toolchain), image files and sizes, boot modules with their
 * versions and capabilities, .NET payloads and GPU modules.
 */
import { locateManifest } from './inspect.js';
import { readManifest, type Manifest } from './manifest.js';

export type Change = 'added' | 'removed' | 'changed' | 'same';

export interface ComponentDiff {
  id: string;
  change: Change;
  size: [number | null, number | null];
  sha256: [string | null, string | null];
  toolchain: [string | null, string | null];
}

export interface ModuleDiff {
  name: string;
  change: Change;
  version: [string | null, string | null];
  caps: { added: string[]; removed: string[] };
  sha256: [string | null, string | null];
}

export interface FileDiff {
  path: string;
  change: Change;
  size: [number | null, number | null];
}

export interface ImageDiff {
  a: { path: string; name: string; version: string; format: string; revision: string };
  b: { path: string; name: string; version: string; format: string; revision: string };
  identical: boolean;
  components: ComponentDiff[];
  modules: ModuleDiff[];
  files: FileDiff[];
  payloads: FileDiff[];
  gpuModules: FileDiff[];
}

/** `serve=echo`, `call=echo`, … from a module's boot arguments. */
export function capsOf(args: string): string[] {
  return args.split(/\s+/).filter((a) => /^(serve|call|notify|shm)=/.test(a));
}

function pair<T, K>(a: T[], b: T[], key: (x: T) => K): [K, T | undefined, T | undefined][] {
  const keys = [...new Set([...a.map(key), ...b.map(key)])];
  return keys.map((k) => [k, a.find((x) => key(x) === k), b.find((x) => key(x) === k)]);
}

const change = (x: unknown, y: unknown, same: boolean): Change => (x === undefined ? 'added' : y === undefined ? 'removed' : same ? 'same' : 'changed');

export function diffManifests(a: Manifest, b: Manifest, paths: [string, string] = ['a', 'b']): Omit<ImageDiff, 'identical'> & { identical: boolean } {
  const head = (m: Manifest, path: string) => ({ path, name: m.name, version: m.version, format: m.format, revision: m.git.revision });
  const components = pair(a.components, b.components, (c) => c.id).map(([id, x, y]): ComponentDiff => {
    const size = (c: typeof x) => (c ? c.outputs.reduce((n, o) => n + o.size, 0) : null);
    const sha = (c: typeof x) => (c ? c.outputs.map((o) => o.sha256).join('+') : null);
    return { id, change: change(x, y, sha(x) === sha(y)), size: [size(x), size(y)], sha256: [sha(x), sha(y)], toolchain: [x?.toolchain.version ?? null, y?.toolchain.version ?? null] };
  });
  const modules = pair(a.boot.modules, b.boot.modules, (m) => m.name).map(([name, x, y]): ModuleDiff => {
    const ca = x ? capsOf(x.args) : [];
    const cb = y ? capsOf(y.args) : [];
    const caps = { added: cb.filter((c) => !ca.includes(c)), removed: ca.filter((c) => !cb.includes(c)) };
    const same = x?.sha256 === y?.sha256 && x?.version === y?.version && x?.args === y?.args;
    return { name, change: change(x, y, same), version: [x?.version ?? null, y?.version ?? null], caps, sha256: [x?.sha256 ?? null, y?.sha256 ?? null] };
  });
  const files = pair(a.files, b.files, (f) => f.path).map(([path, x, y]): FileDiff => ({ path, change: change(x, y, x?.sha256 === y?.sha256), size: [x?.size ?? null, y?.size ?? null] }));
  const payloads = pair(a.payloads, b.payloads, (p) => p.name).map(([path, x, y]): FileDiff => ({ path, change: change(x, y, x?.sha256 === y?.sha256), size: [null, null] }));
  const gpuModules = pair(a.gpuModules, b.gpuModules, (g) => g.name).map(([path, x, y]): FileDiff => ({ path, change: change(x, y, x?.sha256 === y?.sha256), size: [null, null] }));
  const identical = [...components, ...modules, ...files, ...payloads, ...gpuModules].every((d) => d.change === 'same');
  return { a: head(a, paths[0]), b: head(b, paths[1]), identical, components, modules, files, payloads, gpuModules };
}

export function diffImages(a: string, b: string): ImageDiff {
  const pa = locateManifest(a);
  const pb = locateManifest(b);
  return diffManifests(readManifest(pa), readManifest(pb), [pa, pb]);
}
