import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { serializeError } from '@tars/core';
import { createGitHub, publishRelease } from '../src/index.js';
import { FakeGitHub } from './fake-github.js';
import { imageDir } from './images.js';

// The failing side of release verification: a file that no longer matches its manifest is never
// published, and the error is CHECK_FAILED (exit 7) before any request reaches the server.
describe('release publish verifies the image first', () => {
  let gh: FakeGitHub;
  beforeEach(async () => {
    gh = new FakeGitHub();
    await gh.start();
  });
  afterEach(() => gh.stop());

  it('refuses a tampered image with CHECK_FAILED (exit 7) and publishes nothing', async () => {
    const dir = imageDir('iso', 'A');
    appendFileSync(join(dir, 'tars-os-0.1.0.iso'), 'tampered');
    const octokit = createGitHub({ token: gh.tokens.write, apiUrl: gh.url, backoffMs: 10 });
    const err = await publishRelease({ octokit, owner: 'o', repo: 'r', tag: 'v0.1.0', imageDirs: [dir], draft: false, prerelease: false, force: false }).catch((e: unknown) => e);
    const s = serializeError(err);
    expect(s).toMatchObject({ code: 'CHECK_FAILED', exitCode: 7 });
    expect(s.message).toContain('tars-os-0.1.0.iso does not match its manifest');
    expect(gh.requests).toEqual([]);
    expect(gh.releases).toEqual([]);
  });
});
