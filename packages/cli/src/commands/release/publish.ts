import { Flags } from '@oclif/core';
import { AbortError, formatTable, IMAGE_FORMATS, outputInfo, outputResult, outputWarn, runCommand } from '@tars/core';
import { imageDir } from '@tars/image-builder';
import { apiUrlFromEnv, createGitHub, planRelease, publishRelease, tokenFromEnv, type PublishResult, type ReleasePlan } from '@tars/release';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BaseCommand } from '../../base-command.js';

export default class ReleasePublish extends BaseCommand<typeof ReleasePublish, PublishResult | (ReleasePlan & { repo: string | null })> {
  static override summary = 'Create or update the GitHub release for a tag and upload the images, manifests, SHA256SUMS and notes';
  static override description =
    'Images of several formats must come from one build of one config: their manifests must agree on agents, component inputs and outputs and contentKey, else it refuses (exit 7), --dry-run too. Idempotent: assets already uploaded with the same content are skipped; changed ones are replaced only with --force. Retries 5xx, rate limits (honouring Retry-After) and dropped uploads. Token from GITHUB_TOKEN or GH_TOKEN.';
  static override examples = [
    '<%= config.bin %> release publish --tag v0.1.0',
    '<%= config.bin %> release publish --tag v0.1.0 --dry-run',
    '<%= config.bin %> release publish --tag v0.2.0-rc.1 --prerelease --format iso --format raw',
    'GITHUB_TOKEN=… <%= config.bin %> release publish --tag v1.0.0 --repo tars/os --api-url https://ghe.example/api/v3',
  ];

  static override flags = {
    tag: Flags.string({ description: 'Release tag (vX.Y.Z)', required: true }),
    repo: Flags.string({ description: 'owner/name (default: $GITHUB_REPOSITORY, else the origin remote)' }),
    format: Flags.string({ description: 'Image formats to publish (default: every built iso/raw/kernel image)', options: [...IMAGE_FORMATS], multiple: true }),
    draft: Flags.boolean({ default: false, description: 'Create or keep the release as a draft' }),
    prerelease: Flags.boolean({ default: false, description: 'Mark the release as a pre-release' }),
    force: Flags.boolean({ default: false, description: 'Replace assets whose content changed' }),
    'dry-run': Flags.boolean({ default: false, description: 'Show the assets (names, sizes, sha256) and the release notes that would be published; needs no token and no network' }),
    'api-url': Flags.string({ description: 'GitHub API base URL (default: $GITHUB_API_URL, else https://api.github.com)' }),
  };

  async execute(): Promise<PublishResult | (ReleasePlan & { repo: string | null })> {
    const { config, root } = await this.loadConfig();
    if (!/^v\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/.test(this.flags.tag)) throw new AbortError(`Tag ${this.flags.tag} is not vX.Y.Z`, { tryMessage: 'Example: --tag v0.1.0' });
    const [owner, repo] = (this.flags.repo ?? process.env['GITHUB_REPOSITORY'] ?? (await originRepo(root)) ?? '').split('/');
    const formats = this.flags.format ?? IMAGE_FORMATS.filter((f) => existsSync(join(imageDir(root, config, f), 'manifest.json')));
    if (formats.length === 0) throw new AbortError('No built image to publish', { code: 'NOT_FOUND', tryMessage: 'Build one: tarscli os build --format iso' });
    if (this.flags['dry-run']) {
      const plan = planRelease(this.flags.tag, formats.map((f) => imageDir(root, config, f as (typeof IMAGE_FORMATS)[number])));
      return { ...plan, repo: owner && repo ? `${owner}/${repo}` : null };
    }
    if (!owner || !repo) throw new AbortError('Which repository? Pass --repo owner/name (or set GITHUB_REPOSITORY)');
    const octokit = createGitHub({
      token: tokenFromEnv(),
      apiUrl: this.flags['api-url'] ?? apiUrlFromEnv(),
      onRetry: (r) => outputWarn(`GitHub: ${r.reason}; retrying ${r.method} ${r.url} in ${Math.round(r.waitMs)} ms (attempt ${r.attempt})`),
    });
    return publishRelease({
      octokit,
      owner,
      repo,
      tag: this.flags.tag,
      imageDirs: formats.map((f) => imageDir(root, config, f as (typeof IMAGE_FORMATS)[number])),
      draft: this.flags.draft,
      prerelease: this.flags.prerelease,
      force: this.flags.force,
      onProgress: (l) => outputInfo(l),
    });
  }

  protected render(r: PublishResult | (ReleasePlan & { repo: string | null })): void {
    if ('dryRun' in r) {
      outputResult(`Would publish release ${r.tag}${r.repo ? ` to ${r.repo}` : ''} (dry run: nothing was sent):`);
      outputResult(formatTable(['asset', 'size', 'sha256'], r.assets.map((a) => [a.name, String(a.size), a.sha256.slice(0, 16)])));
      outputResult(`\nRelease notes:\n${r.notes}`);
      return;
    }
    outputResult(`${r.release.created ? 'Created' : 'Updated'} release ${r.release.tag}: ${r.release.url}`);
    outputResult(formatTable(['asset', 'size', 'sha256', 'action'], r.assets.map((a) => [a.name, String(a.size), a.sha256.slice(0, 16), a.action])));
  }
}

async function originRepo(root: string): Promise<string | undefined> {
  const r = await runCommand('git', ['remote', 'get-url', 'origin'], { cwd: root, reject: false }).catch(() => undefined);
  const m = /github\.com[:/]([^/]+\/[^/.]+)(?:\.git)?$/.exec(r?.stdout.trim() ?? '');
  return m?.[1];
}
