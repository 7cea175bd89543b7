/**
 * A small dockerode wrapper (testcontainers-style): one client, labelled containers,
 * demuxed output, `wait()` attached before `start()`, "already stopped" is fine, and
 * image builds that reject on `error`/`errorDetail` lines (dockerode itself does not).
 */
import type Docker from 'dockerode';
import { createRequire } from 'node:module';
import { PassThrough, type Readable } from 'node:stream';
import { AbortError, ExternalError } from './errors.js';
import { lineSplitter } from './exec.js';

export const TARS_LABEL = 'dev.tars.managed';

let client: Docker | undefined;

/** The engine client; dockerode is loaded on first use (it costs ~250 ms of start-up). */
export function dockerClient(): Docker {
  if (!client) {
    const DockerCtor = createRequire(import.meta.url)('dockerode') as typeof Docker;
    client = new DockerCtor(process.env['DOCKER_HOST'] ? undefined : { socketPath: '/var/run/docker.sock' });
  }
  return client;
}

export interface EngineInfo {
  version: string;
  apiVersion: string;
}

/** The engine's version, or undefined when no engine answers within the timeout. */
export async function pingEngine(timeoutMs = 3000): Promise<EngineInfo | undefined> {
  const docker = dockerClient();
  try {
    const v = await Promise.race([
      docker.version(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), timeoutMs).unref()),
    ]);
    return { version: v.Version, apiVersion: v.ApiVersion };
  } catch {
    return undefined;
  }
}

export async function requireEngine(): Promise<EngineInfo> {
  const info = await pingEngine();
  if (!info) {
    throw new AbortError('No Docker engine answers on /var/run/docker.sock', {
      code: 'DOCKER_UNAVAILABLE',
      tryMessage: 'Start it with `dockerd &` (or `systemctl start docker`), or use `--executor host`.',
    });
  }
  return info;
}

export interface ImageInfo {
  id: string;
  labels: Record<string, string>;
  created: string;
  size: number;
}

export async function inspectImage(name: string): Promise<ImageInfo | undefined> {
  try {
    const img = await dockerClient().getImage(name).inspect();
    return { id: img.Id, labels: img.Config?.Labels ?? {}, created: img.Created, size: img.Size };
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return undefined;
    throw err;
  }
}

/** Follow a docker progress stream (build/import), rejecting on error lines. */
export function followProgress(stream: Readable, onLine?: (line: string) => void): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const lines: string[] = [];
    let failure: string | undefined;
    const split = lineSplitter((raw) => {
      if (!raw.trim()) return;
      let event: { stream?: string; status?: string; error?: string; errorDetail?: { message?: string }; aux?: { ID?: string } };
      try {
        event = JSON.parse(raw);
      } catch {
        return;
      }
      const err = event.errorDetail?.message ?? event.error;
      if (err) failure = err;
      const text = (event.stream ?? event.status ?? err ?? '').replace(/\n$/, '');
      if (event.aux?.ID) lines.push(`aux:${event.aux.ID}`);
      for (const l of text.split('\n')) {
        if (!l) continue;
        lines.push(l);
        onLine?.(l);
      }
    });
    stream.setEncoding('utf8');
    stream.on('data', (c: string) => split.push(c));
    stream.on('error', reject);
    stream.on('end', () => {
      split.flush();
      if (failure) reject(new ExternalError(`docker: ${failure}`, { command: ['docker', 'build'], stderrTail: lines.slice(-20) }));
      else resolve(lines);
    });
  });
}

export interface ContainerRunOptions {
  image: string;
  cmd: string[];
  workingDir?: string;
  env?: Record<string, string>;
  binds?: string[];
  user?: string;
  network?: boolean;
  labels?: Record<string, string>;
  signal?: AbortSignal;
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

export interface ContainerRunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  cancelled: boolean;
}

/** Run a command in a fresh labelled container; always removes it afterwards. */
export async function runContainer(options: ContainerRunOptions): Promise<ContainerRunResult> {
  const docker = dockerClient();
  const container = await docker.createContainer({
    Image: options.image,
    Cmd: options.cmd,
    WorkingDir: options.workingDir,
    Env: Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`),
    User: options.user,
    Labels: { [TARS_LABEL]: 'true', ...options.labels },
    Tty: false,
    AttachStdout: true,
    AttachStderr: true,
    HostConfig: {
      Binds: options.binds,
      NetworkMode: options.network ? 'bridge' : 'none',
      AutoRemove: false,
      Init: true,
    },
  });
  let stdout = '';
  let stderr = '';
  let cancelled = false;
  const onAbort = () => {
    cancelled = true;
    void container.kill({ signal: 'SIGKILL' }).catch(() => undefined);
  };
  try {
    const stream = await container.attach({ stream: true, stdout: true, stderr: true });
    const out = new PassThrough();
    const err = new PassThrough();
    const outSplit = lineSplitter((l) => options.onLine?.(l, 'stdout'));
    const errSplit = lineSplitter((l) => options.onLine?.(l, 'stderr'));
    out.setEncoding('utf8');
    err.setEncoding('utf8');
    out.on('data', (c: string) => {
      stdout += c;
      outSplit.push(c);
    });
    err.on('data', (c: string) => {
      stderr += c;
      errSplit.push(c);
    });
    docker.modem.demuxStream(stream, out, err);
    const streamEnded = new Promise<void>((resolve) => stream.on('end', () => resolve()));
    const waited = container.wait({ condition: 'next-exit' });
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (!cancelled) await container.start();
    const status = (await waited) as { StatusCode: number };
    await Promise.race([streamEnded, new Promise((r) => setTimeout(r, 500).unref())]);
    outSplit.flush();
    errSplit.flush();
    return { exitCode: status.StatusCode, stdout, stderr, cancelled: cancelled || Boolean(options.signal?.aborted) };
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await container.remove({ force: true }).catch(() => undefined);
  }
}

/** Remove containers left behind by an interrupted run. */
export async function removeLeftoverContainers(): Promise<number> {
  const docker = dockerClient();
  const list = await docker.listContainers({ all: true, filters: { label: [`${TARS_LABEL}=true`] } });
  await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  return list.length;
}
