import { chownSync, existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../config/schema.js';
import { dockerClient, TARS_LABEL } from '../docker.js';
import { AbortError, CancelledError, ExternalError } from '../errors.js';
import { takeWarnings } from '../output.js';
import { ensureBusyboxImage } from '../testing/busybox-image.js';
import { DockerExecutor } from './docker.js';
import { HostExecutor } from './host.js';
import { selectExecutor } from './select.js';
import type { Executor, Step } from './types.js';
import { outputTail } from '../errors.js';

function workspace(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tars-ws-'));
  return dir;
}

function step(ws: string, script: string, extra: Partial<Step> = {}): Step {
  return { name: 'test-step', toolchain: 'base', command: ['sh', '-c', script], workspace: ws, ...extra };
}

function contract(make: () => Promise<Executor>) {
  it('runs a step that writes a file into the workspace', async () => {
    const ex = await make();
    const ws = workspace();
    const log = join(ws, 'step.log');
    const lines: string[] = [];
    const r = await ex.run(step(ws, 'mkdir -p out && echo built > out/artifact.txt && echo done', { env: { GREETING: 'hi' } }), {
      logFile: log,
      onLine: (l) => lines.push(l),
    });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(readFileSync(join(ws, 'out', 'artifact.txt'), 'utf8')).toBe('built\n');
    expect(lines).toContain('done');
    expect(readFileSync(log, 'utf8')).toContain('done');
  });

  it('turns a failing step into STEP_FAILED with the stderr tail', async () => {
    const ex = await make();
    const ws = workspace();
    const err = await ex.run(step(ws, 'echo compiling; echo "error: it broke" >&2; exit 7')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExternalError);
    expect((err as ExternalError).code).toBe('STEP_FAILED');
    expect((err as ExternalError).processExitCode).toBe(7);
    expect((err as ExternalError).stderrTail).toContain('error: it broke');
  });

  it('stops a running step on cancellation', async () => {
    const ex = await make();
    const ws = workspace();
    const ac = new AbortController();
    const started = Date.now();
    // Cancel once the step is observed running (its first line), never on a timer.
    const err = await ex
      .run(step(ws, 'echo running; sleep 60'), { signal: ac.signal, onLine: (l) => l.includes('running') && ac.abort() })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledError);
    // A generous bound: the step would otherwise sleep 60 s.
    expect(Date.now() - started).toBeLessThan(30_000);
  });
}

describe('host executor', () => {
  contract(async () => new HostExecutor());

  it('runs in the step cwd inside the workspace', async () => {
    const ws = workspace();
    await new HostExecutor().run(step(ws, 'mkdir -p sub'));
    await new HostExecutor().run(step(ws, 'pwd > where.txt', { cwd: 'sub' }));
    expect(readFileSync(join(ws, 'sub', 'where.txt'), 'utf8').trim()).toBe(join(ws, 'sub'));
  });
});

describe('docker executor (real engine)', () => {
  let image: string;
  beforeAll(async () => {
    image = await ensureBusyboxImage();
  });

  contract(async () => new DockerExecutor(image));

  it('maps the user so outputs are owned by the workspace owner, not root', async () => {
    const ws = workspace();
    chownSync(ws, 1234, 2345);
    await new DockerExecutor(image).run(step(ws, 'id -u > uid.txt; touch made'));
    expect(readFileSync(join(ws, 'uid.txt'), 'utf8').trim()).toBe('1234');
    const st = statSync(join(ws, 'made'));
    expect([st.uid, st.gid]).toEqual([1234, 2345]);
  });

  it('runs with the network off by default: the only interface is loopback and names do not resolve', async () => {
    const ws = workspace();
    const err = await new DockerExecutor(image)
      .run(step(ws, 'cat /proc/net/dev > ifaces.txt; wget -q -T 5 -O /dev/null http://registry.npmjs.org/'))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExternalError);
    const ifaces = readFileSync(join(ws, 'ifaces.txt'), 'utf8');
    expect(ifaces).toMatch(/\blo:/);
    expect(ifaces).not.toMatch(/\beth0:/);
  });

  it('leaves no container behind after success, failure or cancellation', async () => {
    const ws = workspace();
    const ac = new AbortController();
    const cancelled = await new DockerExecutor(image)
      .run(step(ws, 'echo running; sleep 30'), { signal: ac.signal, onLine: (l) => l.includes('running') && ac.abort() })
      .catch((e: unknown) => e);
    expect(cancelled).toBeInstanceOf(CancelledError);
    await new DockerExecutor(image).run(step(ws, 'exit 1')).catch(() => undefined);
    const left = await dockerClient().listContainers({ all: true, filters: { label: [`${TARS_LABEL}=true`, 'dev.tars.step=test-step'] } });
    expect(left).toEqual([]);
  });
});

describe('selectExecutor', () => {
  it('uses the host when asked', async () => {
    const ex = await selectExecutor({ config: defaultConfig(), toolchain: 'rust', kind: 'host' });
    expect(ex.kind).toBe('host');
  });

  it('uses docker when the engine answers and the image exists', async () => {
    const config = defaultConfig();
    config.toolchains.base.image = await ensureBusyboxImage();
    const ex = await selectExecutor({ config, toolchain: 'base' });
    expect(ex.kind).toBe('docker');
    expect(ex.description).toContain(config.toolchains.base.image);
  });

  it('falls back to the host with a warning when the builder image is missing', async () => {
    const config = defaultConfig();
    config.toolchains.rust.image = 'tars-no-such-image:0';
    takeWarnings();
    const ex = await selectExecutor({ config, toolchain: 'rust' });
    expect(ex.kind).toBe('host');
    expect(takeWarnings()).toEqual(['rust: builder image tars-no-such-image:0 does not exist; running on the host toolchain (not hermetic)']);
  });

  it('refuses an explicit docker executor without its image', async () => {
    const config = defaultConfig();
    config.toolchains.rust.image = 'tars-no-such-image:0';
    const err = await selectExecutor({ config, toolchain: 'rust', kind: 'docker' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as AbortError).code).toBe('IMAGE_MISSING');
    expect((err as AbortError).tryMessage).toContain('tarscli toolchain bootstrap --only rust');
  });
});

it('workspace helper creates distinct dirs', () => {
  expect(existsSync(workspace())).toBe(true);
});
