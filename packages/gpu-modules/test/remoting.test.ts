/**
 * GPU remoting, host half (issue 27): the real tars-gpu-broker on the CPU backend, driven through
 * the shared region by the C client library (out/tgpu-test-client). Results are compared with the
 * C reference; attacks expect their error codes, and the broker and the other channels live on.
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { outputTail } from '@tars/core';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'out');
const broker = join(out, 'tars-gpu-broker');
const client = join(out, 'tgpu-test-client');
let sha = '';

type Proc = ResultPromise<{ reject: false; buffer: true }>;
const started: Proc[] = [];

/** The first stdout line of `proc` that `match` accepts (as JSON); rejects if the process ends first. */
function lineOf(proc: Proc, match: (j: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const j = JSON.parse(line);
          if (match(j)) {
            proc.stdout?.off('data', onData);
            resolve(j);
            return;
          }
        } catch {}
      }
    };
    proc.stdout?.on('data', onData);
    void proc.then((r) => reject(new Error(`exited (${r.exitCode}) before the line: ${outputTail(r)}`)));
  });
}

/** templates/cuda-module rendered as `agent new NAME --lang cuda` renders it. */
function renderCudaTemplate(name: string): string {
  const vars: Record<string, string> = { name, crate: name.replace(/-/g, '_'), CRATE: name.replace(/-/g, '_').toUpperCase(), version: '0.1.0' };
  const render = (t: string) => t.replace(/\{\{(\w+)\}\}/g, (m, k: string) => vars[k] ?? m).replace(/__([A-Za-z]+)__/g, (m, k: string) => vars[k] ?? m);
  const src = join(root, '..', '..', 'templates', 'cuda-module');
  const dst = mkdtempSync(join(tmpdir(), 'tars-cuda-module-'));
  const walk = (d: string): string[] => readdirSync(d).flatMap((e) => (statSync(join(d, e)).isDirectory() ? walk(join(d, e)) : [join(d, e)]));
  for (const f of walk(src)) {
    const out = join(dst, render(relative(src, f).replace(/\.tmpl$/, '')));
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, render(readFileSync(f, 'utf8')));
  }
  return dst;
}

async function startBroker(extra: string[] = []): Promise<{ region: string; proc: Proc; pid: number }> {
  const region = join(mkdtempSync(join(tmpdir(), 'tars-gpu-broker-')), 'gpu.shm');
  const proc = execa(broker, ['--region', region, '--backend', 'cpu', '--module', out, '--channels', '8', ...extra], { reject: false, buffer: true }) as Proc;
  started.push(proc);
  const ready = await lineOf(proc, (j) => j.ready === true);
  expect(ready).toMatchObject({ backend: 'cpu', channels: 8, modules: 1 + extra.filter((a) => a === '--module').length });
  return { region, proc, pid: ready.pid as number };
}

async function run(mode: string, region: string, extra: string[] = []) {
  const r = await execa(client, [mode, '--region', region, '--sha', sha, ...extra], { reject: false, timeout: 60_000 });
  expect(r.exitCode, outputTail(r)).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string);
}

beforeAll(async () => {
  const r = await execa('bash', ['scripts/build.sh'], { cwd: root, reject: false });
  expect(r.exitCode, outputTail(r)).toBe(0);
  sha = JSON.parse(readFileSync(join(out, 'module.json'), 'utf8')).fatbin.sha256;
}, 300_000);

afterEach(() => {
  for (const p of started.splice(0)) p.kill('SIGKILL');
});

describe('wire contract', () => {
  it('tgpu_wire.h is generated from wire.json, and a divergence fails the check', async () => {
    const ok = await execa('node', ['remoting/gen-wire.mjs', '--check'], { cwd: root, reject: false });
    expect(ok.exitCode, outputTail(ok)).toBe(0);
    const dir = mkdtempSync(join(tmpdir(), 'tars-wire-'));
    cpSync(join(root, 'remoting'), dir, { recursive: true });
    const wire = JSON.parse(readFileSync(join(dir, 'wire.json'), 'utf8'));
    wire.ops.push(['EXTRA', 12, 'an op the header does not have']);
    writeFileSync(join(dir, 'wire.json'), JSON.stringify(wire));
    const drift = await execa('node', [join(dir, 'gen-wire.mjs'), '--check'], { reject: false });
    expect(drift.exitCode).toBe(1);
    expect(drift.stderr).toMatch(/differs from remoting\/wire\.json/);
    // A struct whose fields do not add up to its declared size is refused.
    wire.structs[2].fields[4][1] = 'u8[50]';
    writeFileSync(join(dir, 'wire.json'), JSON.stringify(wire));
    const bad = await execa('node', [join(dir, 'gen-wire.mjs')], { reject: false });
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toMatch(/struct sqe is 66 bytes, declared 64/);
  });

  it('the header asserts every offset: a hand edit of it fails the check and does not compile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tars-wire-'));
    cpSync(join(root, 'remoting'), dir, { recursive: true });
    writeFileSync(join(dir, 'ok.c'), '#include "tgpu_wire.h"\nint main(void) { return TGPU_OP_RESET == 11 ? 0 : 1; }\n');
    const ok = await execa('cc', ['-std=c11', '-Wall', '-Werror', `-I${dir}`, join(dir, 'ok.c'), '-o', join(dir, 'ok')], { reject: false });
    expect(ok.exitCode, outputTail(ok)).toBe(0);
    // The completion's status moved before its op, by hand.
    const h = readFileSync(join(dir, 'tgpu_wire.h'), 'utf8');
    const edited = h.replace('  uint16_t op;\n  uint16_t _pad;\n  int32_t status;', '  int32_t status;\n  uint16_t op;\n  uint16_t _pad;');
    expect(edited).not.toBe(h);
    writeFileSync(join(dir, 'tgpu_wire.h'), edited);
    const drift = await execa('cc', ['-std=c11', `-I${dir}`, join(dir, 'ok.c'), '-o', join(dir, 'ok2')], { reject: false });
    expect(drift.exitCode).not.toBe(0);
    expect(drift.stderr).toMatch(/wire drift: cqe\.(op|status)/);
    const check = await execa('node', [join(dir, 'gen-wire.mjs'), '--check'], { reject: false });
    expect(check.exitCode).toBe(1);
  });

  it('tgpu_wire.rs (for the guest SDKs) builds no_std with its asserts, and a hand edit of it does not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tars-wire-rs-'));
    const lib = (body: string) => `#![no_std]\n${body}\npub fn devptr() -> u64 { tgpu_devptr(3, 8) }\n`;
    const rs = readFileSync(join(root, 'remoting', 'tgpu_wire.rs'), 'utf8');
    writeFileSync(join(dir, 'ok.rs'), lib(rs));
    const ok = await execa('rustc', ['--edition', '2021', '--crate-type', 'lib', '-o', join(dir, 'libok.rlib'), join(dir, 'ok.rs')], { reject: false });
    expect(ok.exitCode, outputTail(ok)).toBe(0);
    const edited = rs.replace('    pub op: u16,\n    pub _pad: u16,\n    pub status: i32,', '    pub status: i32,\n    pub op: u16,\n    pub _pad: u16,');
    expect(edited).not.toBe(rs);
    writeFileSync(join(dir, 'bad.rs'), lib(edited));
    const bad = await execa('rustc', ['--edition', '2021', '--crate-type', 'lib', '-o', join(dir, 'libbad.rlib'), join(dir, 'bad.rs')], { reject: false });
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toMatch(/wire drift: cqe\.(op|status)/);
  });

  it('module.json lists each entry point with its host implementation, exported by module.host.so with the signature the broker checks', async () => {
    const m = JSON.parse(readFileSync(join(out, 'module.json'), 'utf8'));
    expect(m.host).toEqual({ file: 'module.host.so', source: 'kernels/tars_kernels_host.c' });
    const syms = (await execa('nm', ['-D', '--defined-only', join(out, 'module.host.so')])).stdout;
    const lines = readFileSync(join(out, 'module.broker'), 'utf8').trim().split('\n');
    expect(lines.slice(0, 3)).toEqual([`sha256 ${m.fatbin.sha256}`, 'fatbin module.fatbin', 'host module.host.so']);
    for (const [i, e] of (m.entryPoints as { name: string; host: string; params: { type: string }[] }[]).entries()) {
      expect(e.host).toBe(`tgpu_host_${e.name}`);
      expect(syms).toMatch(new RegExp(` T ${e.host}$`, 'm'));
      expect(syms).toMatch(new RegExp(` T ${e.name}$`, 'm')); // the exact-signature form
      const kinds = e.params.map((p) => (p.type.endsWith('*') ? 'p' : ({ int32: 'i32', uint32: 'u32', float: 'f32' } as Record<string, string>)[p.type]));
      expect(lines[3 + i]).toBe(`entry ${e.name} ${e.host} ${kinds.join(',')}`);
    }
  });
});

describe('tars-gpu-broker (CPU backend)', () => {
  it('the marl env step through the broker equals the C reference bit for bit, every step', async () => {
    const { region } = await startBroker();
    const a = await run('marl', region, ['--channel', '0', '--agents', '1000', '--steps', '40', '--seed', '3']);
    expect(a).toMatchObject({ ok: true, mismatches: 0, steps: 40, launches: 80 });
    // The channel's counters (for os diagnostics): two launches a step, the bytes copied.
    expect(a.bytes_d2h).toBe(40 * 2 * 4000);
    const b = await run('marl', region, ['--channel', '1', '--agents', '1000', '--steps', '40', '--seed', '3']);
    expect(b.checksum).toBe(a.checksum);
    const c = await run('marl', region, ['--channel', '2', '--agents', '1000', '--steps', '40', '--seed', '4']);
    expect(c.checksum).not.toBe(a.checksum);
  });

  it('the whole learning step (marl_step: Q tables, positions, rng) through the broker equals the C reference bit for bit', async () => {
    const { region } = await startBroker();
    expect(await run('learn', region, ['--agents', '300', '--steps', '60', '--seed', '9'])).toEqual({ ok: true, agents: 300, iterations: 60, reward_mismatches: 0, state_bit_exact: true });
  });

  it('the vector top-k through the broker equals the C reference bit for bit', async () => {
    const { region } = await startBroker();
    const r = await run('topk', region);
    expect(r).toMatchObject({ ok: true, topk_of_reference_scores_bit_exact: true, pipeline_topk_bit_exact: true, event_done: true });
    expect(r.cosine_max_abs_err).toBeLessThanOrEqual(1e-4);
  });

  it('attacks: unlisted module, forged handles, oversize and mis-typed parameters, bad ranges — each an error code, and the channel still computes', async () => {
    const { region } = await startBroker();
    const r = await run('attacks', region);
    expect(r).toEqual({
      unlisted_module: 'NOT_LISTED',
      module_load: 'OK',
      module_handle_in_use: 'HANDLE_IN_USE',
      module_handle_out_of_range: 'BAD_HANDLE',
      unknown_function: 'NO_FUNCTION',
      unterminated_name: 'NO_FUNCTION',
      forged_module_handle: 'BAD_HANDLE',
      valid_launch: 'OK',
      forged_function_handle: 'BAD_HANDLE',
      function_handle_out_of_range: 'BAD_HANDLE',
      oversize_params: 'PARAMS_SIZE',
      short_params: 'PARAMS',
      long_params: 'PARAMS',
      scalar_as_pointer: 'PARAMS',
      forged_buffer_in_params: 'PARAMS',
      pointer_past_buffer: 'PARAMS',
      raw_address: 'PARAMS',
      block_too_large: 'LAUNCH',
      zero_block: 'LAUNCH',
      copy_past_buffer: 'BOUNDS',
      copy_past_data_window: 'BOUNDS',
      copy_offset_overflow: 'BOUNDS',
      copy_forged_buffer: 'BAD_HANDLE',
      copy_bad_stream: 'BAD_HANDLE',
      over_mem_cap: 'MEM_CAP',
      buffer_handle_in_use: 'HANDLE_IN_USE',
      free_forged_buffer: 'BAD_HANDLE',
      query_unrecorded_event: 'BAD_HANDLE',
      unknown_op: 'BAD_OP',
      unknown_flags: 'BAD_OP',
      sync_after_async_error: 'BAD_HANDLE',
      sync_after_that: 'OK',
      valid_launch_after: 'OK',
      reset: 'OK',
      launch_after_reset: 'BAD_HANDLE',
      module_load_after_reset: 'OK',
      mem_used_after_reset: 0,
      errors_counted: 29,
    });
  });

  it('attack: a device pointer or buffer of another client does not resolve; the same handle number is the client’s own zeroed buffer', async () => {
    const { region } = await startBroker();
    expect(await run('cross', region)).toEqual({ launch_with_other_channels_buffer: 'PARAMS', read_other_channels_buffer: 'BAD_HANDLE', same_handle_is_own_zeroed_buffer: true, other_still_has_secret: true });
  });

  it('attack: the per-client device-memory cap holds across allocations', async () => {
    const { region } = await startBroker(['--mem-cap', '8192']);
    // The attacks scenario allocates 4 buffers of 4 KiB: the third passes a cap of 8 KiB, and
    // the sync after the (asynchronous) allocations reports it.
    const r = await execa(client, ['attacks', '--region', region, '--sha', sha], { reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain('{"ok":false,"error":"sync: MEM_CAP"}');
  });

  it('a client that leaves failed completions unreaped does not hand its errors to the next client of the channel', async () => {
    const { region } = await startBroker();
    const r = await run('leftover', region, ['--channel', '3']);
    expect(r.left_behind).toBeGreaterThan(0);
    expect(r.next_client_sync).toBe('OK');
  });

  it('attack: a flood of submissions is pushed back (RING_FULL) once both rings are full, and none is lost', async () => {
    const { region } = await startBroker();
    const r = await run('flood', region, ['--launches', '20000']);
    expect(r).toMatchObject({ ok: true, launches: 20000, counted: 20000, in_flight_when_both_rings_full: 512, submit_then: 'RING_FULL', sync: 'OK' });
    expect(r.ring_full).toBeGreaterThan(0);
  });

  it('attack: garbage in the ring indices faults that channel only (RING_CORRUPT); the broker and other channels go on', async () => {
    const { region, proc } = await startBroker();
    const r = await run('garbage', region);
    expect(r).toEqual({ sq_tail_garbage: 'RING_CORRUPT', cq_head_garbage: 'RING_CORRUPT', sync_on_faulted: 'RING_CORRUPT', other_channel: 'OK', faulted_state: 3 });
    expect(proc.exitCode).toBeNull();
  });

  it('attack: a kernel running far past its buffers faults that launch only; the other channels go on', async () => {
    const { region } = await startBroker();
    const r = await run('overrun', region, ['--channel', '2']);
    expect(['FAULT', 'BROKER_GONE']).toContain(r.overrun);
    expect(r.other_channel).toBe('OK');
  });

  for (const victim of ['broker', 'worker'] as const) {
    it(`the ${victim} killed mid-launch: the waiting client gets BROKER_GONE, no hang`, async () => {
      const { region } = await startBroker();
      const c = execa(client, ['kill', '--region', region, '--sha', sha, '--channel', '1'], { reject: false, buffer: true, timeout: 60_000 }) as Proc;
      started.push(c);
      const running = await lineOf(c, (j) => j.running === true);
      process.kill((victim === 'broker' ? running.broker_pid : running.worker_pid) as number, 'SIGKILL');
      const r = await c;
      expect(r.exitCode, outputTail(r)).toBe(0);
      const j = JSON.parse(r.stdout.trim().split('\n').pop() as string);
      expect(j.sync).toBe('BROKER_GONE');
      expect(j.launches_done).toBeLessThan(60);
      // A dead worker is reported by the supervisor at once; a dead broker by its silent heartbeat.
      expect(j.waited_ms).toBeLessThan(victim === 'broker' ? 5000 : 1000);
      if (victim === 'worker') expect((await run('marl', region, ['--channel', '0', '--agents', '100', '--steps', '3'])).ok).toBe(true);
    });
  }

  it('attack: a launch that would run for days: the watchdog ends that worker (TIMEOUT), the client gets BROKER_GONE, the others go on', async () => {
    const { region } = await startBroker(['--launch-timeout-ms', '300']);
    const r = await run('endless', region, ['--channel', '4']);
    expect(r).toMatchObject({ sync: 'BROKER_GONE', channel_error: 'TIMEOUT', other_channel: 'OK' });
    // Not before the limit; no upper bound in wall time (a loaded machine stretches it): a client
    // that hung would be ended by run()'s guard and fail the match above.
    expect(r.waited_ms).toBeGreaterThanOrEqual(300);
  });

  it('stops cleanly on SIGTERM and marks the region stopped: a client then gets BROKER_GONE at once', async () => {
    const { region, proc } = await startBroker();
    proc.kill('SIGTERM');
    const r = await proc;
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.stdout).toContain('{"stopped":true}');
    const c = await execa(client, ['marl', '--region', region, '--sha', sha], { reject: false });
    expect(c.exitCode).toBe(1);
    expect(JSON.parse(c.stdout).error).toBe('attach: BROKER_GONE');
  });

  it('a module from `agent new --lang cuda` ships its host implementation: its test checks it, and the broker runs it beside the built-in module', async () => {
    const mod = renderCudaTemplate('edge-embed');
    const t = await execa('bash', ['scripts/test.sh'], { cwd: mod, reject: false });
    expect(t.exitCode, outputTail(t)).toBe(0);
    expect(t.stdout.trim().split('\n').pop()).toBe('9 passed, 0 failed');
    const b = await execa('bash', ['scripts/build-fatbin.sh'], { cwd: mod, reject: false });
    expect(b.exitCode, outputTail(b)).toBe(0);
    const m = JSON.parse(readFileSync(join(mod, 'out', 'module.json'), 'utf8'));
    expect(m.entryPoints[0]).toMatchObject({ name: 'edge_embed_scale_add', host: 'tgpu_host_edge_embed_scale_add' });
    const { region } = await startBroker(['--module', join(mod, 'out')]);
    const r = await execa(client, ['scale-add', '--region', region, '--sha', m.fatbin.sha256, '--function', 'edge_embed_scale_add'], { reject: false });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ ok: true, n: 1000 });
  });

  it('refuses bad setups with one JSON error line: a fatbin whose sha256 differs from the manifest, a region another broker serves, no GPU for --backend cuda, bad options', async () => {
    const mod = mkdtempSync(join(tmpdir(), 'tars-gpu-mod-'));
    for (const f of ['module.broker', 'module.host.so', 'module.fatbin']) cpSync(join(out, f), join(mod, f));
    writeFileSync(join(mod, 'module.fatbin'), Buffer.concat([readFileSync(join(out, 'module.fatbin')), Buffer.from([0])]));
    const region = join(mod, 'gpu.shm');
    const forged = await execa(broker, ['--region', region, '--backend', 'cpu', '--module', mod], { reject: false });
    expect(forged.exitCode).toBe(2);
    expect(JSON.parse(forged.stdout).error).toMatch(/module\.fatbin does not have the sha256 its module\.broker lists/);
    const { region: taken } = await startBroker();
    const second = await execa(broker, ['--region', taken, '--backend', 'cpu', '--module', out], { reject: false });
    expect(second.exitCode).toBe(2);
    expect(JSON.parse(second.stdout).error).toBe(`the region file ${taken} is in use by another broker`);
    const bad = await execa(broker, ['--region', region, '--backend', 'tpu', '--module', out], { reject: false });
    expect(bad.exitCode).toBe(2);
    expect(JSON.parse(bad.stdout).error).toBe('--backend must be cpu or cuda (got tpu)');
    const gpu = await execa(join(out, 'tars-gpu-runner'), ['conformance'], { reject: false });
    if (!JSON.parse(gpu.stdout).gpu.available) {
      const cuda = await execa(broker, ['--region', region, '--backend', 'cuda', '--module', out], { reject: false });
      expect(cuda.exitCode).toBe(2);
      expect(JSON.parse(cuda.stdout).error).toMatch(/no usable GPU/);
    }
  });
});
