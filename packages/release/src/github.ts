/**
 * The GitHub client: @octokit/rest with one retry policy for every request — 5xx, secondary
 * and primary rate limits (honouring Retry-After and X-RateLimit-Reset) and dropped connections —
 * and GitHub Enterprise base URLs.
 */
import { Octokit } from '@octokit/rest';
import { AbortError } from '@tars/core';

export interface GitHubOptions {
  token: string | undefined;
  /** API base, e.g. https://api.github.com or https://ghe.example/api/v3. */
  apiUrl: string;
  maxRetries?: number;
  /** Backoff base for 5xx and dropped connections (ms). */
  backoffMs?: number;
  /** Longest single wait (ms); a longer Retry-After fails instead of hanging a pipeline. */
  maxWaitMs?: number;
  onRetry?: (info: { attempt: number; waitMs: number; reason: string; method: string; url: string }) => void;
}

export function tokenFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env['GITHUB_TOKEN'] || env['GH_TOKEN'] || undefined;
}

export function apiUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return env['GITHUB_API_URL'] || 'https://api.github.com';
}

interface HttpError {
  status?: number;
  message?: string;
  response?: { headers?: Record<string, string | undefined> };
}

/** Why a failed request is worth retrying, and how long to wait; undefined = do not retry. */
export function retryDecision(err: HttpError, attempt: number, backoffMs: number, now = Date.now()): { waitMs: number; reason: string } | undefined {
  const status = err.status;
  const h = err.response?.headers ?? {};
  const retryAfter = h['retry-after'];
  if (status === 403 || status === 429) {
    if (retryAfter !== undefined) return { waitMs: Math.max(0, Number(retryAfter) * 1000), reason: `rate limited (${status}, Retry-After ${retryAfter}s)` };
    if (h['x-ratelimit-remaining'] === '0' && h['x-ratelimit-reset']) {
      return { waitMs: Math.max(0, Number(h['x-ratelimit-reset']) * 1000 - now), reason: `rate limit exhausted (${status})` };
    }
    if (/secondary rate limit/i.test(err.message ?? '')) return { waitMs: 60_000, reason: 'secondary rate limit' };
    return undefined;
  }
  // No status, or octokit's 500 for a failed fetch: the connection dropped.
  if (status === undefined || /fetch failed|socket|ECONNRESET|other side closed|terminated/i.test(err.message ?? '')) {
    return { waitMs: backoffMs * 2 ** (attempt - 1), reason: `connection failed (${err.message ?? 'unknown'})` };
  }
  if (status >= 500) return { waitMs: backoffMs * 2 ** (attempt - 1), reason: `server error ${status}` };
  return undefined;
}

export function createGitHub(opts: GitHubOptions): Octokit {
  if (!opts.token) {
    throw new AbortError('No GitHub token: set GITHUB_TOKEN (or GH_TOKEN)', {
      code: 'AUTH_FAILED',
      tryMessage: 'In GitHub Actions pass `env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}` and grant `permissions: contents: write`.',
    });
  }
  const octokit = new Octokit({ auth: opts.token, baseUrl: opts.apiUrl.replace(/\/+$/, ''), userAgent: 'tarscli', log: { debug() {}, info() {}, warn() {}, error() {} } });
  const maxRetries = opts.maxRetries ?? 5;
  const backoff = opts.backoffMs ?? 1000;
  const maxWait = opts.maxWaitMs ?? 120_000;
  octokit.hook.wrap('request', async (request, options) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await request(options);
      } catch (err) {
        const e = err as HttpError;
        const decision = attempt <= maxRetries ? retryDecision(e, attempt, backoff) : undefined;
        if (!decision || decision.waitMs > maxWait) throw explain(e, String(options.method), String(options.url));
        opts.onRetry?.({ attempt, waitMs: decision.waitMs, reason: decision.reason, method: String(options.method), url: String(options.url) });
        await new Promise((r) => setTimeout(r, decision.waitMs));
      }
    }
  });
  return octokit;
}

/** Turn auth failures into one clear error; keep everything else. */
function explain(e: HttpError, method: string, url: string): Error {
  if (e.status === 401) return new AbortError('GitHub rejected the token (401 Bad credentials)', { code: 'AUTH_FAILED', tryMessage: 'Check GITHUB_TOKEN / GH_TOKEN.' });
  if (e.status === 403) {
    return new AbortError(`The GitHub token lacks permission for ${method} ${url} (403)`, {
      code: 'AUTH_FAILED',
      tryMessage: 'The token needs `contents: write` on the repository (workflow: `permissions: contents: write`).',
    });
  }
  return e instanceof Error ? e : new Error(String(e.message));
}
