/**
 * A release is one build of one config (issue 24, item 12): images whose manifests disagree on
 * what they contain are refused before anything is read, planned or uploaded.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readManifest, writeManifest, type Manifest } from '@tars/image-builder';
import { planRelease } from '../src/index.js';
import { imageDir } from './images.js';

function edit(dir: string, change: (m: Manifest) => void): void {
  const path = join(dir, 'manifest.json');
  const m = readManifest(path);
  change(m);
  writeManifest(path, m);
}

const twoFormats = () => {
  const root = imageDir('iso', 'A').replace(/\/iso$/, '');
  imageDir('raw', 'R', root);
  return { iso: join(root, 'iso'), raw: join(root, 'raw') };
};

describe('release publish --dry-run refuses images of different builds', () => {
  it('two formats of one build are planned, notes and all', () => {
    const { iso, raw } = twoFormats();
    const plan = planRelease('v0.1.0', [iso, raw]);
    expect(plan.assets.map((a) => a.name)).toContain('manifest.raw.json');
  });

  it('a stale image from a config with other agents: refused, naming the difference', () => {
    const { iso, raw } = twoFormats();
    edit(raw, (m) => {
      m.boot.modules.push({ name: 'ping', version: '1.0.0', file: '/boot/tars/ping.elf', args: 'name=ping call=echo', sha256: 'b'.repeat(64) });
    });
    const err = (() => {
      try {
        planRelease('v0.1.0', [iso, raw]);
      } catch (e) {
        return e as { code: string; exitCode: number; message: string; nextSteps: string[] };
      }
      return undefined;
    })();
    expect(err).toMatchObject({ code: 'CHECK_FAILED', exitCode: 7, message: 'The images do not come from one build of one config; refusing to bundle them into one release' });
    expect(err?.nextSteps[0]).toMatch(/iso vs .*raw: agents: pong@1\.0\.0 vs pong@1\.0\.0, ping@1\.0\.0$/);
    expect(err?.nextSteps).toContain('Rebuild them from the current config: tarscli os build --format iso && tarscli os build --format raw');
  });

  it('a kernel built from other sources (same agents): refused', () => {
    const { iso, raw } = twoFormats();
    edit(raw, (m) => {
      (m.components[0] as Manifest['components'][number]).inputsHash = 'c'.repeat(64);
    });
    expect(() => planRelease('v0.1.0', [iso, raw])).toThrow(/do not come from one build/);
  });

  it('an agent with other capabilities (args) is another config: refused', () => {
    const { iso, raw } = twoFormats();
    edit(raw, (m) => {
      (m.boot.modules[0] as Manifest['boot']['modules'][number]).args = 'name=pong serve=echo notify=ready';
    });
    expect(() => planRelease('v0.1.0', [iso, raw])).toThrow(/do not come from one build/);
  });

  it('different contentKeys (recorded by os build) are refused even when the rest looks alike', () => {
    const { iso, raw } = twoFormats();
    edit(iso, (m) => void (m.contentKey = 'd'.repeat(64)));
    edit(raw, (m) => void (m.contentKey = 'e'.repeat(64)));
    expect(() => planRelease('v0.1.0', [iso, raw])).toThrow(/do not come from one build/);
    // and equal ones pass
    edit(raw, (m) => void (m.contentKey = 'd'.repeat(64)));
    expect(planRelease('v0.1.0', [iso, raw]).assets.length).toBeGreaterThan(0);
  });
});
