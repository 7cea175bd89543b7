import { appendFileSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { startQemu } from '@tars/deploy';
import { specFromManifest } from '@tars/deploy';
import { copyProject } from './project.js';
import { BIN, outputTail, tarscli } from './helpers.js';
import { holdBuildScript } from './hold.js';

const HOST = ['--executor', 'host'];

describe('os build (host executor)', () => {
  let dir: string;
  beforeAll(() => {
    dir = copyProject();
  });

  it('--dry-run --json prints the plan', async () => {
    const r = await tarscli(['os', 'build', '--dry-run', '--json'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.json.result.steps.map((s: { id: string }) => s.id)).toEqual(['kernel', 'agent:pong', 'agent:ping']);
    expect(r.json.result.boot.modules[0].args).toBe('name=pong version=1.0.0 prio=2 serve=echo shm=tensor notify=ready');
  });

  it('builds the kernel format, then a no-op rebuild runs no toolchain and keeps the image', async () => {
    const first = await tarscli(['os', 'build', '--format', 'kernel', ...HOST, '--json'], { cwd: dir });
    expect(first.exitCode, outputTail(first)).toBe(0);
    const m = first.json.result;
    expect(m.format).toBe('kernel');
    expect(m.files.map((f: { path: string }) => f.path)).toEqual(['tars-kernel.elf', 'modules/pong.elf', 'modules/ping.elf']);
    expect(m.build.components.map((c: { executor: string }) => c.executor)).toEqual(['host', 'host', 'host']);
    const sums = readFileSync(join(dir, 'dist', 'kernel', 'SHA256SUMS'), 'utf8');
    expect(sums).toContain(`${m.files[0].sha256}  tars-kernel.elf`);

    const again = await tarscli(['os', 'build', '--format', 'kernel', ...HOST, '--json'], { cwd: dir });
    expect(again.exitCode, outputTail(again)).toBe(0);
    expect(again.json.result.build.components.map((c: { executor: string }) => c.executor)).toEqual(['cache', 'cache', 'cache']);
    expect(again.json.result.buildKey).toBe(m.buildKey);
    // What makes it a no-op is observed above (every component from the cache); its speed is
    // benchmarked in `npm run bench`, not asserted here, so a loaded machine cannot fail this test.
  });

  it('touching one agent rebuilds only that agent and the image', async () => {
    appendFileSync(join(dir, 'packages/kernel-rs/agents/ping/src/main.rs'), '\n// touched by the test\n');
    const r = await tarscli(['os', 'build', '--format', 'kernel', ...HOST, '--json'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(0);
    const how = Object.fromEntries(r.json.result.build.components.map((c: { id: string; executor: string }) => [c.id, c.executor]));
    expect(how).toEqual({ kernel: 'cache', 'agent:pong': 'cache', 'agent:ping': 'host' });
  });

  it('detects a corrupt cache entry by hash and rebuilds it', async () => {
    const cacheDir = join(dir, '.tars', 'cache');
    const entries = readdirSync(cacheDir)
      .filter((s) => s.length === 2)
      .flatMap((s) => readdirSync(join(cacheDir, s)).map((k) => join(cacheDir, s, k)));
    const kernelEntry = entries.find((e) => JSON.parse(readFileSync(join(e, 'index.json'), 'utf8')).component === 'kernel') as string;
    const victim = join(kernelEntry, 'files', 'packages/kernel-rs/out/tars-kernel.elf');
    writeFileSync(victim, 'corrupted');
    const r = await tarscli(['os', 'build', '--format', 'kernel', ...HOST, '--json'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.json.warnings.some((w: string) => /was corrupt \(.* does not match its sha256\); rebuilding/.test(w))).toBe(true);
    expect(r.json.result.build.components.filter((c: { cache: string }) => c.cache === 'corrupt')).toHaveLength(1);
  });

  it('boots the kernel format in QEMU (TCG) to ready', async () => {
    const m = JSON.parse(readFileSync(join(dir, 'dist', 'kernel', 'manifest.json'), 'utf8'));
    const q = startQemu({ ...(await specFromManifest(m, join(dir, 'dist', 'kernel'))), accel: 'tcg', memoryMb: 128 }, join(dir, '.tars', 'run-kernel'));
    try {
      const ready = await q.waitFor((e) => e.ev === 'ready', { timeoutMs: 30_000 });
      expect(ready).toMatchObject({ tasks: 2, modules: 2 });
    } finally {
      await q.stop();
    }
  });

  it('os inspect verifies the image and catches tampering (exit 7)', async () => {
    const ok = await tarscli(['os', 'inspect', join(dir, 'dist', 'kernel'), '--json'], { cwd: dir });
    expect(ok.exitCode, outputTail(ok)).toBe(0);
    expect(ok.json.result.ok).toBe(true);
    appendFileSync(join(dir, 'dist', 'kernel', 'modules', 'pong.elf'), 'x');
    const bad = await tarscli(['os', 'inspect', join(dir, 'dist', 'kernel'), '--json'], { cwd: dir });
    expect(bad.exitCode, outputTail(bad)).toBe(7);
    expect(bad.json.result.checks.find((c: { what: string }) => c.what === 'modules/pong.elf').ok).toBe(false);
  });

  it('a missing toolchain fails with the doctor fix line (exit 4)', async () => {
    const r = await tarscli(['os', 'build', '--format', 'kernel', ...HOST, '--no-cache', '--json'], { cwd: dir, env: { PATH: '/usr/bin:/bin' } });
    expect(r.exitCode, outputTail(r)).toBe(4);
    expect(r.json).toMatchObject({ code: 'TOOL_MISSING' });
    expect(r.json.message).toContain('the rust toolchain (rustc) is missing');
  });

  it('refuses the docker executor when the builder image is missing (exit 4)', async () => {
    const d = copyProject((c) => (c.toolchains = { rust: { image: 'tars-no-such-builder:0' } }));
    const r = await tarscli(['os', 'build', '--executor', 'docker', '--json'], { cwd: d });
    expect(r.exitCode, outputTail(r)).toBe(4);
    expect(r.json.code).toBe('IMAGE_MISSING');
  });

  it('a killed build leaves the previous image intact and no half artifact', async () => {
    // Start from a whole image (an earlier test tampered with it; a build notices and re-assembles).
    const built = await tarscli(['os', 'build', '--format', 'kernel', ...HOST, '--json'], { cwd: dir });
    expect(built.exitCode, outputTail(built)).toBe(0);
    const before = readFileSync(join(dir, 'dist', 'kernel', 'manifest.json'), 'utf8');
    // The build script changes, so the kernel step must run; it is held once it is running.
    const hold = holdBuildScript(join(dir, 'packages/kernel-rs/scripts/build.sh'));
    try {
      const child = execa('node', [BIN, 'os', 'build', '--format', 'kernel', ...HOST], { cwd: dir, reject: false });
      await hold.started;
      child.kill('SIGKILL');
      const killed = await child;
      expect(killed.signal).toBe('SIGKILL');
    } finally {
      hold.restore();
    }
    // The published image is untouched and still verifies; outputs only ever appear whole.
    expect(readFileSync(join(dir, 'dist', 'kernel', 'manifest.json'), 'utf8')).toBe(before);
    expect((await tarscli(['os', 'inspect', join(dir, 'dist', 'kernel'), '--json'], { cwd: dir })).json.result.ok).toBe(true);
    const outs = readdirSync(join(dir, 'packages/kernel-rs/out'));
    expect(outs.filter((n) => n.endsWith('.tmp') && !n.startsWith('.'))).toEqual([]);
    const r = await tarscli(['os', 'build', '--format', 'kernel', ...HOST, '--json'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(0);
    // The next build clears what the killed one left in staging.
    expect(readdirSync(join(dir, 'dist')).filter((n) => n.includes('.tmp-') || n.includes('.old-'))).toEqual([]);
  });

  it('Ctrl-C (SIGINT) cancels with exit 130', async () => {
    const before = readFileSync(join(dir, 'dist', 'kernel', 'manifest.json'), 'utf8');
    const hold = holdBuildScript(join(dir, 'packages/kernel-rs/scripts/build.sh'));
    try {
      const child = execa('node', [BIN, 'os', 'build', '--format', 'kernel', ...HOST], { cwd: dir, reject: false });
      // Interrupt once a step is running in its executor (observed, not timed).
      await hold.started;
      child.kill('SIGINT');
      const r = await child;
      expect(r.exitCode, outputTail(r)).toBe(130);
      expect(String(r.stderr)).toContain('CANCELLED');
    } finally {
      hold.restore();
    }
    expect(readFileSync(join(dir, 'dist', 'kernel', 'manifest.json'), 'utf8')).toBe(before);
  });
});

describe('os build in GitHub Actions', () => {
  it('turns compiler errors into annotations and writes a step summary', async () => {
    const dir = copyProject();
    const summary = join(dir, 'summary.md');
    const env = { GITHUB_ACTIONS: 'true', CI: 'true', GITHUB_STEP_SUMMARY: summary };
    const ok = await tarscli(['os', 'build', '--format', 'kernel', ...HOST], { cwd: dir, env });
    expect(ok.exitCode, outputTail(ok)).toBe(0);
    expect(readFileSync(summary, 'utf8')).toMatch(/### TARS OS 0\.1\.0: kernel image[\s\S]*\| kernel \| built \(host\) \|/);
    appendFileSync(join(dir, 'packages/kernel-rs/agents/ping/src/main.rs'), '\nfn broken() { let x: u32 = "nope"; }\n');
    const bad = await tarscli(['os', 'build', '--format', 'kernel', ...HOST], { cwd: dir, env });
    expect(bad.exitCode, outputTail(bad)).toBe(5);
    expect(bad.stdout).toMatch(/^::error file=packages\/kernel-rs\/agents\/ping\/src\/main\.rs,line=\d+,col=\d+,title=rustc E0308::mismatched types$/m);
  });
});

describe('os build --verify-reproducible', () => {
  it('fails with CHECK_FAILED (exit 7) and names the component when two builds differ', async () => {
    // A build script that stamps the time into an agent: the classic source of nondeterminism.
    const dir = copyProject();
    const agent = join(dir, 'packages/kernel-rs/agents/ping');
    writeFileSync(
      join(agent, 'build.rs'),
      'fn main() {\n    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();\n    println!("cargo:rustc-env=TARS_BUILD_STAMP={t}");\n}\n',
    );
    const main = join(agent, 'src/main.rs');
    writeFileSync(main, readFileSync(main, 'utf8').replace('    ready();', '    log(env!("TARS_BUILD_STAMP"));\n    ready();'));

    const json = await tarscli(['os', 'build', '--format', 'kernel', ...HOST, '--verify-reproducible', '--json'], { cwd: dir });
    expect(json.exitCode, outputTail(json)).toBe(7);
    expect(json.json.status).toBe(7);
    expect(json.json.result).toMatchObject({ identical: false, firstDifference: 'component agent:ping: packages/kernel-rs/out/agents/ping.elf' });
    // diffoscope (installed by setup) summarises the first difference.
    expect(json.json.result.diffoscope).toMatch(/diffoscope\.txt$/);
    expect(json.json.result.diffoscopeSummary.join('\n')).toMatch(/ping\.elf/);

    const text = await tarscli(['os', 'build', '--format', 'kernel', ...HOST, '--verify-reproducible'], { cwd: dir });
    expect(text.exitCode, outputTail(text)).toBe(7);
    expect(text.stdout).toContain('NOT reproducible: component agent:ping');
    expect(text.stdout).toContain('diffoscope report: ');
  });
});

describe('doctor', () => {
  it('exits CHECK_FAILED (7) when a required tool is missing, in text and --json', async () => {
    const dir = copyProject();
    // A PATH that holds node alone: every required tool (cargo among them) is missing.
    const bin = mkdtempSync(join(tmpdir(), 'tars-bin-'));
    symlinkSync(process.execPath, join(bin, 'node'));
    const env = { PATH: bin, TARS_QEMU_ACCEL: 'tcg' };
    const json = await tarscli(['doctor', '--json'], { cwd: dir, env });
    expect(json.exitCode, outputTail(json)).toBe(7);
    expect(json.json.status).toBe(7);
    expect(json.json.result.ok).toBe(false);
    expect(json.json.result.checks.find((c: { id: string }) => c.id === 'cargo')).toMatchObject({ status: 'fail', required: true });
    const text = await tarscli(['doctor'], { cwd: dir, env });
    expect(text.exitCode, outputTail(text)).toBe(7);
    expect(text.stdout).toContain('Some required checks failed.');
  });
});
