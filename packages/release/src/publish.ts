/**
 * `release publish`: create or update the GitHub release for a tag and upload the images,
 * their manifests, SHA256SUMS and notes. Idempotent: an asset whose content is already there is
 * skipped; a changed one is replaced only with `force`; a half-uploaded one (a dropped
 * connection) is deleted and uploaded again.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Octokit } from '@octokit/rest';
import { AbortError } from '@tars/core';
import { getFormat, readManifest, sha256sums, type Manifest } from '@tars/image-builder';
import { releaseNotes } from './notes.js';
import { checkOneBuild } from './one-build.js';

export interface PublishOptions {
  octokit: Octokit;
  owner: string;
  repo: string;
  tag: string;
  /** Image directories (each holding manifest.json). */
  imageDirs: string[];
  draft: boolean;
  prerelease: boolean;
  force: boolean;
  onProgress?: (line: string) => void;
}

export interface AssetPlan {
  name: string;
  data: Buffer;
  sha256: string;
}

export interface PublishResult {
  release: { id: number; url: string; created: boolean; tag: string };
  assets: { name: string; size: number; sha256: string; action: 'uploaded' | 'skipped' | 'replaced' }[];
}

interface GhAsset {
  id: number;
  name: string;
  size: number;
  state: string;
  digest?: string | null;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Every asset for the given images, in upload order (SHA256SUMS last). */
export function planAssets(imageDirs: string[]): { manifests: Manifest[]; assets: AssetPlan[] } {
  const manifests: Manifest[] = [];
  const assets: AssetPlan[] = [];
  const add = (name: string, data: Buffer) => {
    if (assets.some((a) => a.name === name)) throw new AbortError(`Two assets would be named ${name}`, { code: 'CONFLICT' });
    assets.push({ name, data, sha256: sha(data) });
  };
  const images = imageDirs.map((dir) => {
    const mpath = join(dir, 'manifest.json');
    if (!existsSync(mpath)) throw new AbortError(`No image in ${dir} (manifest.json missing)`, { code: 'NOT_FOUND', tryMessage: 'Build it first: tarscli os build.' });
    return { dir, manifest: readManifest(mpath) };
  });
  // Before a byte is read or uploaded: one release is one build of one config.
  checkOneBuild(images);
  for (const { dir, manifest: m } of images) {
    const mpath = join(dir, 'manifest.json');
    manifests.push(m);
    for (const f of m.files) {
      const data = readFileSync(join(dir, f.path));
      if (sha(data) !== f.sha256) throw new AbortError(`${join(dir, f.path)} does not match its manifest`, { code: 'CHECK_FAILED', tryMessage: `tarscli os inspect ${dir}` });
      add(getFormat(m.format).releaseAssetName(m, f.path), data);
    }
    add(imageDirs.length === 1 ? 'manifest.json' : `manifest.${m.format}.json`, readFileSync(mpath));
  }
  add('SHA256SUMS', Buffer.from(sha256sums(assets.map((a) => ({ path: a.name, sha256: a.sha256 })))));
  return { manifests, assets };
}

export interface ReleasePlan {
  tag: string;
  dryRun: true;
  assets: { name: string; size: number; sha256: string }[];
  notes: string;
}

/** What `publish` would upload and the notes it would write, without a token or the network. */
export function planRelease(tag: string, imageDirs: string[]): ReleasePlan {
  for (const d of imageDirs) if (!existsSync(d) || !statSync(d).isDirectory()) throw new AbortError(`${d} is not an image directory`, { code: 'NOT_FOUND' });
  const { manifests, assets } = planAssets(imageDirs);
  return { tag, dryRun: true, assets: assets.map((a) => ({ name: a.name, size: a.data.length, sha256: a.sha256 })), notes: releaseNotes(tag, manifests) };
}

async function assetSha(octokit: Octokit, owner: string, repo: string, a: GhAsset): Promise<string> {
  if (a.digest?.startsWith('sha256:')) return a.digest.slice(7);
  const res = await octokit.request('GET /repos/{owner}/{repo}/releases/assets/{asset_id}', { owner, repo, asset_id: a.id, headers: { accept: 'application/octet-stream' } });
  return sha(Buffer.from(res.data as unknown as ArrayBuffer));
}

export async function publishRelease(opts: PublishOptions): Promise<PublishResult> {
  const { octokit, owner, repo, tag } = opts;
  for (const d of opts.imageDirs) if (!existsSync(d) || !statSync(d).isDirectory()) throw new AbortError(`${d} is not an image directory`, { code: 'NOT_FOUND' });
  const { manifests, assets } = planAssets(opts.imageDirs);
  const body = releaseNotes(tag, manifests);

  let release: { id: number; html_url: string; upload_url: string };
  let created = false;
  try {
    release = (await octokit.rest.repos.getReleaseByTag({ owner, repo, tag })).data;
    release = (await octokit.rest.repos.updateRelease({ owner, repo, release_id: release.id, body, draft: opts.draft, prerelease: opts.prerelease })).data;
  } catch (err) {
    if ((err as { status?: number }).status !== 404) throw err;
    release = (
      await octokit.rest.repos.createRelease({ owner, repo, tag_name: tag, name: `${manifests[0]?.name ?? 'TARS OS'} ${tag}`, body, draft: opts.draft, prerelease: opts.prerelease, target_commitish: manifests[0]?.git.revision !== 'unknown' ? manifests[0]?.git.revision : undefined })
    ).data;
    created = true;
  }
  opts.onProgress?.(`${created ? 'created' : 'updated'} release ${tag} (${release.html_url})`);

  const existing = (await octokit.paginate(octokit.rest.repos.listReleaseAssets, { owner, repo, release_id: release.id, per_page: 100 })) as GhAsset[];
  const actions = new Map<string, 'upload' | 'skip' | 'replace'>();
  const conflicts: string[] = [];
  for (const a of assets) {
    const there = existing.find((e) => e.name === a.name);
    if (!there) actions.set(a.name, 'upload');
    else if (there.state !== 'uploaded') actions.set(a.name, 'replace'); // left over from a dropped upload
    else if (there.size === a.data.length && (await assetSha(octokit, owner, repo, there)) === a.sha256) actions.set(a.name, 'skip');
    else if (opts.force) actions.set(a.name, 'replace');
    else conflicts.push(a.name);
  }
  if (conflicts.length > 0) {
    throw new AbortError(`Release ${tag} already has different content for ${conflicts.join(', ')}`, {
      code: 'CONFLICT',
      tryMessage: 'Pass --force to replace them, or publish under a new tag.',
    });
  }

  const uploadBase = release.upload_url.replace(/\{.*\}$/, '');
  const results: PublishResult['assets'] = [];
  for (const a of assets) {
    const action = actions.get(a.name);
    if (action === 'skip') {
      results.push({ name: a.name, size: a.data.length, sha256: a.sha256, action: 'skipped' });
      continue;
    }
    await uploadWithCleanup(opts, release.id, uploadBase, a, action === 'replace');
    results.push({ name: a.name, size: a.data.length, sha256: a.sha256, action: action === 'replace' ? 'replaced' : 'uploaded' });
    opts.onProgress?.(`${action === 'replace' ? 'replaced' : 'uploaded'} ${a.name} (${a.data.length} bytes)`);
  }
  return { release: { id: release.id, url: release.html_url, created, tag }, assets: results };
}

/** Upload one asset; an asset of that name (stale or half-written) is deleted first. */
async function uploadWithCleanup(opts: PublishOptions, releaseId: number, uploadBase: string, a: AssetPlan, replace: boolean): Promise<void> {
  const { octokit, owner, repo } = opts;
  const removeExisting = async () => {
    const list = (await octokit.paginate(octokit.rest.repos.listReleaseAssets, { owner, repo, release_id: releaseId, per_page: 100 })) as GhAsset[];
    for (const e of list.filter((x) => x.name === a.name)) await octokit.rest.repos.deleteReleaseAsset({ owner, repo, asset_id: e.id });
  };
  if (replace) await removeExisting();
  for (let attempt = 1; ; attempt++) {
    try {
      await octokit.request(`POST ${uploadBase}{?name}`, {
        name: a.name,
        data: a.data,
        headers: { 'content-type': 'application/octet-stream', 'content-length': a.data.length },
      });
      return;
    } catch (err) {
      // GitHub answers 422 when a dropped upload left a partial asset under this name.
      if ((err as { status?: number }).status === 422 && attempt === 1) {
        await removeExisting();
        continue;
      }
      throw err;
    }
  }
}
