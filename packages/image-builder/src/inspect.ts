/**
 * `os inspect`: read an image back and verify it against its manifest — every file's sha256,
 * and for ISO and raw images the kernel and modules inside the image filesystem.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { AbortError } from '@tars/core';
import { sha256File } from './hash-inputs.js';
import { readManifest, type Manifest } from './manifest.js';
import { getFormat } from './formats/index.js';

export interface InspectCheck {
  what: string;
  expected: string;
  actual: string;
  ok: boolean;
}

export interface InspectReport {
  ok: boolean;
  dir: string;
  manifest: Manifest;
  checks: InspectCheck[];
}

/** Accepts the image directory, the image file or its manifest.json. */
export function locateManifest(target: string): string {
  if (!existsSync(target)) throw new AbortError(`${target} does not exist`, { code: 'NOT_FOUND', tryMessage: 'Build one with `tarscli os build`.' });
  const dir = statSync(target).isDirectory() ? target : dirname(target);
  const path = basename(target) === 'manifest.json' ? target : join(dir, 'manifest.json');
  if (!existsSync(path)) throw new AbortError(`No manifest.json beside ${target}`, { code: 'NOT_FOUND', tryMessage: 'Images built by `tarscli os build` carry one.' });
  return path;
}

export async function inspectImage(target: string): Promise<InspectReport> {
  const manifestPath = locateManifest(target);
  const dir = dirname(manifestPath);
  const manifest = readManifest(manifestPath);
  const checks: InspectCheck[] = [];
  for (const f of manifest.files) {
    const p = join(dir, f.path);
    const actual = existsSync(p) ? sha256File(p) : 'missing';
    checks.push({ what: f.path, expected: f.sha256, actual, ok: actual === f.sha256 });
  }
  // Debug files beside the image: a wrong one would symbolize faults wrongly.
  for (const d of manifest.debug) {
    const p = join(dir, d.file);
    const actual = existsSync(p) ? sha256File(p) : 'missing';
    checks.push({ what: d.file, expected: d.sha256, actual, ok: actual === d.sha256 });
  }
  const format = getFormat(manifest.format);
  if (format.extractBootFiles && checks.every((c) => c.ok)) {
    const tmp = mkdtempSync(join(tmpdir(), 'tars-inspect-'));
    try {
      await format.extractBootFiles(manifest, join(dir, manifest.files[0]?.path ?? ''), tmp);
      const kernelOut = manifest.components.find((c) => c.id === 'kernel')?.outputs[0];
      const inImage = (p: string) => join(tmp, p.replace(/^\//, ''));
      if (kernelOut) {
        const p = inImage(manifest.boot.kernel);
        const actual = existsSync(p) ? sha256File(p) : 'missing';
        checks.push({ what: `${manifest.boot.kernel} (in image)`, expected: kernelOut.sha256, actual, ok: actual === kernelOut.sha256 });
      }
      for (const m of [...manifest.boot.modules, ...manifest.payloads, ...manifest.gpuModules.map((g) => ({ file: g.fatbin, sha256: g.sha256 })), ...manifest.gpuModules.map((g) => ({ file: g.manifest, sha256: g.manifestSha256 }))]) {
        const p = inImage(m.file);
        const actual = existsSync(p) ? sha256File(p) : 'missing';
        checks.push({ what: `${m.file} (in image)`, expected: m.sha256, actual, ok: actual === m.sha256 });
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  return { ok: checks.every((c) => c.ok), dir, manifest, checks };
}
