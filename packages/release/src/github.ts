/**
 * The GitHub client: @octokit/rest with @octokit/plugin-retry (5xx and dropped connections,
 * backing off) and @octokit/plugin-throttling (primary and secondary rate limits, honouring
 * Retry-After and X-RateLimit-Reset; writes spaced as GitHub asks), GitHub Enterprise base URLs,
 * and errors a person can act on: a host that cannot be reached fails at once ("cannot reach"),
 * a bad token is AUTH_FAILED.
 */
import { Octokit } from '@octokit/rest';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import Bottleneck from 'bottleneck';
import { AbortError, outputDebug } from '@tars/core';

export interface GitHubOptions {
  token: string | undefined;
  /** API base, e.g. https://api.github.com or https://ghe.example/api/v3. */
  apiUrl: string;
  /** Retries of a 5xx or a dropped connection (plugin-retry). */
  maxRetries?: number;
  /** Backoff unit for 5xx and dropped connections (ms): waits are 1, 4, 9 … units. */
  backoffMs?: number;
  /** Longest rate-limit wait (ms); a longer Retry-After fails instead of hanging a pipeline. */
  maxWaitMs?: number;
  /** Spacing of write requests (ms; GitHub asks for 1 s, 3 s for ones that notify). */
  writeIntervalMs?: number;
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
  cause?: unknown;
}

/** Socket error codes that mean the server is not there at all: retrying will not help. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'CERT_HAS_EXPIRED', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'DEPTH_ZERO_SELF_SIGNED_CERT']);

/** The socket error code somewhere in a fetch failure's cause chain. */
export function networkErrorCode(err: unknown, depth = 0): string | undefined {
  if (!err || typeof err !== 'object' || depth > 5) return undefined;
  const e = err as { code?: unknown; cause?: unknown; errors?: unknown[] };
  if (typeof e.code === 'string' && /^[A-Z_]+$/.test(e.code)) return e.code;
  for (const inner of [e.cause, ...(e.errors ?? [])]) {
    const c = networkErrorCode(inner, depth + 1);
    if (c) return c;
  }
  return undefined;
}

/** Why a failed request is worth retrying; undefined = it is not (plugin-retry's own rules decide the wait). */
export function retryReason(err: HttpError): string | undefined {
  if (err.response) return err.status !== undefined && err.status >= 500 ? `server error ${err.status}` : undefined;
  // No response at all: the connection dropped (octokit reports a failed fetch as status 500).
  return `connection failed (${err.message ?? 'unknown'})`;
}

function unreachable(apiUrl: string, code: string, method: string, url: string): AbortError {
  const host = (() => {
    try {
      return new URL(apiUrl).host;
    } catch {
      return apiUrl;
    }
  })();
  return new AbortError(`Cannot reach GitHub at ${apiUrl} (${code} for ${method} ${url})`, {
    code: 'EXTERNAL_FAILED',
    tryMessage: `Check the network and the API URL (--api-url, GITHUB_API_URL): nothing answers at ${host}.`,
  });
}

/**
 * Innermost plugin (registered before plugin-retry): a host that cannot be reached fails at once
 * instead of being retried as a "500", and each retry plugin-retry is about to make is reported.
 */
function tarsErrors(apiUrl: string, maxRetries: number, backoffMs: number, onRetry: GitHubOptions['onRetry']) {
  return (octokit: Octokit) => {
    octokit.hook.error('request', (error, options) => {
      const e = error as HttpError;
      const method = String(options.method);
      const url = String(options.url);
      const code = e.response ? undefined : networkErrorCode(e);
      if (code && UNREACHABLE.has(code)) throw unreachable(apiUrl, code, method, url);
      const reason = retryReason(e);
      const retryCount = Number((options.request as { retryCount?: number } | undefined)?.retryCount ?? 0);
      if (reason && retryCount < maxRetries) {
        const waitMs = (retryCount + 1) ** 2 * backoffMs;
        outputDebug(`github: ${method} ${url}: ${reason}; retry ${retryCount + 1} in ${waitMs} ms`);
        onRetry?.({ attempt: retryCount + 1, waitMs, reason, method, url });
      }
      throw error;
    });
    return {};
  };
}

export function createGitHub(opts: GitHubOptions): Octokit {
  if (!opts.token) {
    throw new AbortError('No GitHub token: set GITHUB_TOKEN (or GH_TOKEN)', {
      code: 'AUTH_FAILED',
      tryMessage: 'In GitHub Actions pass `env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}` and grant `permissions: contents: write`.',
    });
  }
  const maxRetries = opts.maxRetries ?? 3;
  const backoffMs = opts.backoffMs ?? 1000;
  const maxWaitMs = opts.maxWaitMs ?? 120_000;
  const writeMs = opts.writeIntervalMs ?? 1000;
  const apiUrl = opts.apiUrl.replace(/\/+$/, '');
  const onLimit = (kind: string) => (retryAfter: number, options: { method?: string; url?: string }, _octokit: unknown, retryCount: number) => {
    const waitMs = retryAfter * 1000;
    const method = String(options.method);
    const url = String(options.url);
    if (retryCount >= maxRetries || waitMs > maxWaitMs) return false;
    opts.onRetry?.({ attempt: retryCount + 1, waitMs, reason: kind === 'secondary' ? `rate limited (403, Retry-After ${retryAfter}s)` : `rate limit exhausted (reset in ${retryAfter}s)`, method, url });
    return true;
  };
  const Client = Octokit.plugin(tarsErrors(apiUrl, maxRetries, backoffMs, opts.onRetry) as unknown as typeof retry, retry, throttling);
  const octokit = new Client({
    auth: opts.token,
    baseUrl: apiUrl,
    userAgent: 'tarscli',
    log: { debug() {}, info() {}, warn() {}, error() {} },
    retry: { retries: maxRetries, retryAfterBaseValue: backoffMs },
    throttle: {
      onRateLimit: onLimit('primary'),
      onSecondaryRateLimit: onLimit('secondary'),
      // Own groups: the plugin's defaults are process-wide and fixed at 1 s / 3 s.
      write: new Bottleneck.Group({ maxConcurrent: 1, minTime: writeMs }),
      notifications: new Bottleneck.Group({ maxConcurrent: 1, minTime: writeMs * 3 }),
    },
  });
  const allowed = allowedOrigins(apiUrl);
  // Outermost: once retries are spent, say what failed in words a person can act on.
  octokit.hook.wrap('request', async (request, options) => {
    outputDebug(`github: ${String(options.method)} ${String(options.url)}`);
    // The token goes with every request: never to a URL a server response named on another host.
    const target = originOf(String(options.url), apiUrl);
    if (!allowed.includes(target)) {
      throw new AbortError(`Refusing to send the GitHub token to ${target} (${String(options.method)} ${String(options.url).replace(/(\{\?|\?).*$/, '')}): it is not the API at ${apiUrl}`, {
        code: 'CHECK_FAILED',
        tryMessage: 'The server answered with a URL on another host. Check --api-url / GITHUB_API_URL.',
      });
    }
    try {
      return await request(options);
    } catch (err) {
      throw explain(err as HttpError, String(options.method), String(options.url));
    }
  });
  return octokit as unknown as Octokit;
}

/** The origin (scheme://host:port) a request URL goes to; relative URLs go to the API. */
function originOf(url: string, apiUrl: string): string {
  try {
    return new URL(url.replace(/\{[^}]*\}/g, ''), `${apiUrl}/`).origin;
  } catch {
    return url;
  }
}

/** Where the token may go: the API's origin, and for github.com its uploads host (same scheme). */
export function allowedOrigins(apiUrl: string): string[] {
  let api: URL;
  try {
    api = new URL(apiUrl);
  } catch {
    throw new AbortError(`The GitHub API URL ${apiUrl} is not a URL`, { code: 'USAGE', tryMessage: 'Example: --api-url https://ghe.example/api/v3' });
  }
  return api.host === 'api.github.com' ? [api.origin, 'https://uploads.github.com'] : [api.origin];
}

/** Turn auth failures and exhausted retries into one clear error; keep everything else (a 404 is data). */
function explain(e: HttpError, method: string, url: string): Error {
  if (e instanceof AbortError) return e;
  if (e.status === 401) return new AbortError('GitHub rejected the token (401 Bad credentials)', { code: 'AUTH_FAILED', tryMessage: 'Check GITHUB_TOKEN / GH_TOKEN.' });
  if (e.status === 403 || e.status === 429) {
    if (/rate limit/i.test(e.message ?? '')) {
      return new AbortError(`GitHub rate limit for ${method} ${url}: ${e.message}`, { code: 'EXTERNAL_FAILED', tryMessage: 'Wait for the limit to reset, then run the same command again (it is idempotent).' });
    }
    return new AbortError(`The GitHub token lacks permission for ${method} ${url} (403)`, {
      code: 'AUTH_FAILED',
      tryMessage: 'The token needs `contents: write` on the repository (workflow: `permissions: contents: write`).',
    });
  }
  const reason = retryReason(e);
  if (reason) {
    return new AbortError(`GitHub request ${method} ${url} failed: ${reason}, still after retries`, {
      code: 'EXTERNAL_FAILED',
      tryMessage: 'Run the same command again: publishing is idempotent.',
      cause: e,
    });
  }
  // Any other answer (404 for a wrong --repo, 422, …) is GitHub's word, not a tarscli bug; the
  // status stays on the error so callers can still treat a 404 as data.
  if (typeof e.status === 'number') return new GitHubHttpError(method, url, e.status, e.message ?? '');
  return e instanceof Error ? e : new Error(String(e.message));
}

/** GitHub answered with an HTTP error that is neither auth nor worth retrying. */
export class GitHubHttpError extends AbortError {
  constructor(
    method: string,
    url: string,
    readonly status: number,
    serverMessage: string,
  ) {
    super(`GitHub answered ${status} for ${method} ${url.replace(/(\{\?|\?).*$/, '')}: ${serverMessage.split('\n')[0]?.slice(0, 200) || 'no message'}`, {
      code: status === 404 ? 'NOT_FOUND' : 'EXTERNAL_FAILED',
      tryMessage:
        status === 404
          ? 'Check --repo (owner/name) and that the token can see that repository.'
          : 'See the message above; publishing is idempotent, so the same command can be run again.',
    });
  }
}
