// TARS against the alternative, in one run with the same QEMU settings (pc, 256 MiB, TCG,
// -icount shift=0 so one TSC tick is one instruction or one ns of idle): a minimal Linux guest made
// from Debian's packages (the distribution kernel and a static /init, bench/linux/bench-init.c)
// against the TARS kernel with its ping/pong agents.
//   boot: instructions from reset to Linux's /init vs to TARS's `ready`
//   IPC: pipe, futex and socketpair ping-pong between two processes vs TARS call+reply
//   memory in use after boot: MemTotal - MemFree vs frames in use
//   pipe and eventfd round trips between two threads of one process (bench/linux/rtt.c, the same
//   loop in Linux's /init and in a TARS Linux agent)
//   boot → first output of the corpus's Go program (test/linux/go-answer; skipped without `go`)
//   a function call (sum of two i64): a fresh process per call (fork+exec) and a long-lived
//   process over a pipe vs a typed call into a TARS sandbox (agents/sb-guest)
// Prints a table with Linux/TARS ratios; with BENCH_JSON=FILE also writes the figures as JSON.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { recordFigures } from '../../../scripts/bench-record.mjs';
import { ProtocolClient, qemuArgs, startQemu } from '@tars/deploy';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const OUT = fileURLToPath(new URL('../out/', import.meta.url));
const WORK = fileURLToPath(new URL('../../../.tars/bench/linux/', import.meta.url));
const MEMORY_MB = 256;
const MODULES = [
  { path: `${OUT}agents/pong.elf`, args: 'name=pong version=1.0.0 prio=2 serve=echo shm=tensor notify=ready' },
  { path: `${OUT}agents/ping.elf`, args: 'name=ping version=1.0.0 prio=3 call=echo shm=tensor notify=ready' },
];
// The spawn bench (agents/spawner mode 6): 20 spawns of a Rust agent, medians as metrics; a boot
// of its own, so nothing else runs beside it.
const SPAWN_MODULES = [
  { path: `${OUT}agents/spawner.elf`, args: 'name=spawner version=1.0.0 boot=no' },
  { path: `${OUT}agents/spawner.elf`, args: `name=spawn-bench version=1.0.0 arg=${6 | (20 << 8)} spawn=spawner` },
];

/** The distribution kernel (linux-image-amd64's dependency), downloaded once and unpacked. */
function debianKernel() {
  mkdirSync(WORK, { recursive: true });
  const found = readdirSync(WORK).find((f) => f.startsWith('vmlinuz-'));
  if (found) return join(WORK, found);
  const deps = execFileSync('apt-cache', ['depends', 'linux-image-amd64'], { encoding: 'utf8' });
  const pkg = /Depends: (linux-image-[^\s]+)/.exec(deps)?.[1];
  if (!pkg) throw new Error('apt-cache names no linux-image package for linux-image-amd64 (run apt-get update)');
  const dl = mkdtempSync(join(tmpdir(), 'tars-linux-'));
  try {
    execFileSync('apt-get', ['download', pkg], { cwd: dl, stdio: 'ignore' });
    const deb = readdirSync(dl).find((f) => f.endsWith('.deb'));
    execFileSync('dpkg-deb', ['-x', join(dl, deb), join(dl, 'x')]);
    const vmlinuz = readdirSync(join(dl, 'x', 'boot')).find((f) => f.startsWith('vmlinuz-'));
    writeFileSync(join(WORK, vmlinuz), readFileSync(join(dl, 'x', 'boot', vmlinuz)));
    return join(WORK, vmlinuz);
  } finally {
    rmSync(dl, { recursive: true, force: true });
  }
}

const GO = ['/usr/bin/go', '/usr/lib/go/bin/go'].find((p) => existsSync(p));
const CORPUS = fileURLToPath(new URL('../test/linux/', import.meta.url));

/** The corpus's Go program, static (no cgo), or undefined without a Go compiler. */
function goProgram() {
  if (!GO) return undefined;
  mkdirSync(WORK, { recursive: true });
  const out = join(WORK, 'go-answer');
  execFileSync(GO, ['build', '-trimpath', '-o', out, join(CORPUS, 'go-answer', 'main.go')], {
    env: { ...process.env, CGO_ENABLED: '0', GOOS: 'linux', GOARCH: 'amd64', GOCACHE: process.env.GOCACHE ?? join(process.env.HOME ?? WORK, '.cache', 'go-build') },
    stdio: 'pipe',
  });
  return out;
}

/** The two-thread round-trip program as a TARS agent (the loop /init includes). */
function rttProgram() {
  mkdirSync(WORK, { recursive: true });
  const out = join(WORK, 'rtt');
  execFileSync('gcc', ['-static', '-O2', '-pthread', '-o', out, join(HERE, 'linux', 'rtt.c')]);
  return out;
}

/** An initramfs holding the static /init, busybox and the Go program (newc cpio written by busybox). */
function initramfs(goprog) {
  const root = mkdtempSync(join(tmpdir(), 'tars-initramfs-'));
  try {
    mkdirSync(join(root, 'bin'));
    mkdirSync(join(root, 'dev'));
    execFileSync('gcc', ['-static', '-O2', '-pthread', '-o', join(root, 'init'), join(HERE, 'linux', 'bench-init.c')]);
    if (goprog) writeFileSync(join(root, 'go-answer'), readFileSync(goprog), { mode: 0o755 });
    if (existsSync('/bin/busybox')) writeFileSync(join(root, 'bin', 'busybox'), readFileSync('/bin/busybox'), { mode: 0o755 });
    const files = execFileSync('find', ['.', '-mindepth', '1'], { cwd: root, encoding: 'utf8' });
    const cpio = spawnSync('busybox', ['cpio', '-o', '-H', 'newc'], { cwd: root, input: files, maxBuffer: 64 << 20 });
    if (cpio.status !== 0) throw new Error(`cpio failed: ${cpio.stderr}`);
    const out = join(WORK, 'initramfs.cpio');
    writeFileSync(out, cpio.stdout);
    return out;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

function bootLinux(kernel, initrd) {
  const dir = mkdtempSync(join(tmpdir(), 'tars-linux-run-'));
  try {
    const paths = { events: join(dir, 'console.log'), control: join(dir, 'unused.sock') };
    const args = qemuArgs({ kernel, append: 'console=ttyS0 quiet panic=-1 rdinit=/init', modules: [{ path: initrd, args: '' }], accel: 'tcg', memoryMb: MEMORY_MB, icount: true }, paths);
    const r = spawnSync('qemu-system-x86_64', args, { timeout: 600_000 });
    const out = readFileSync(paths.events, 'utf8');
    const figures = Object.fromEntries([...out.matchAll(/^TARSBENCH (\w+)=(\S+)/gm)].map((m) => [m[1], m[2]]));
    if (figures.done !== '1') throw new Error(`the Linux guest did not finish (QEMU exit ${r.status}): ${out.slice(-2000)}`);
    return Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, Number(v)]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function bootTars() {
  const dir = mkdtempSync(join(tmpdir(), 'tars-bench-'));
  const q = startQemu({ kernel: `${OUT}tars-kernel.elf`, modules: MODULES, accel: 'tcg', memoryMb: MEMORY_MB, icount: true }, dir);
  try {
    const ready = await q.waitFor((e) => e.ev === 'ready', { timeoutMs: 120_000 });
    const client = await ProtocolClient.connect(q.paths.control);
    const stats = await client.stats();
    const rtt = await q.waitFor((e) => e.ev === 'metric' && e.name === 'ipc_rtt_cycles_min', { timeoutMs: 120_000 });
    const avg = await q.waitFor((e) => e.ev === 'metric' && e.name === 'ipc_rtt_cycles_avg', { timeoutMs: 60_000 });
    client.close();
    return {
      ...(await bootSpawnBench()),
      readyInstructions: Number(ready.boot_us) * 1000,
      rttMin: Number(rtt.value),
      rttAvg: Number(avg?.value ?? 0),
      memUsedKb: ((stats.memory.frames_total - stats.memory.frames_free) * 4096) / 1024,
    };
  } finally {
    await q.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One Linux agent alone under -icount: what it printed as `TARSBENCH key=value`, and when (µs). */
async function bootAgent(path, name, until) {
  const dir = mkdtempSync(join(tmpdir(), 'tars-bench-'));
  const q = startQemu({ kernel: `${OUT}tars-kernel.elf`, modules: [{ path, args: `name=${name} version=1.0.0 abi=linux argv=${name}+x+y` }], accel: 'tcg', memoryMb: MEMORY_MB, icount: true }, dir);
  try {
    const last = await q.waitFor((e) => e.ev === 'log' && e.source === name && until.test(String(e.msg)), { timeoutMs: 300_000 });
    const lines = q.reader.events.filter((e) => e.ev === 'log' && e.source === name);
    const figures = Object.fromEntries(lines.map((e) => /^TARSBENCH (\w+)=(\S+)/.exec(String(e.msg))).filter(Boolean).map((m) => [m[1], Number(m[2])]));
    return { figures, firstUs: Number(lines[0]?.t_us), lastUs: Number(last.t_us) };
  } finally {
    await q.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function bootSpawnBench() {
  const dir = mkdtempSync(join(tmpdir(), 'tars-bench-'));
  const q = startQemu({ kernel: `${OUT}tars-kernel.elf`, modules: SPAWN_MODULES, accel: 'tcg', memoryMb: MEMORY_MB, icount: true }, dir);
  try {
    const first = await q.waitFor((e) => e.ev === 'metric' && e.name === 'spawn_cycles', { timeoutMs: 120_000 });
    const done = await q.waitFor((e) => e.ev === 'metric' && e.name === 'spawn_exit_cycles', { timeoutMs: 60_000 });
    return { spawnFirst: Number(first.value), spawnDone: Number(done.value) };
  } finally {
    await q.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// The sandbox bench (agents/sb-owner mode 6): a typed call of sb-guest's `sum`, the function the
// Linux guest runs as a fresh process per call and as a long-lived process over a pipe.
const SANDBOX_MODULES = [
  { path: `${OUT}agents/pong.elf`, args: 'name=pong version=1.0.0 prio=2 serve=echo shm=tensor notify=ready' },
  { path: `${OUT}agents/sb-guest.elf`, args: 'name=sb-guest version=1.0.0 boot=no sandbox=yes' },
  { path: `${OUT}agents/sb-pages.elf`, args: 'name=sb-pages version=1.0.0 boot=no sandbox=yes' },
  { path: `${OUT}agents/sb-hostile.elf`, args: 'name=sb-spin version=1.0.0 boot=no sandbox=yes deadline_ms=1' },
  { path: `${OUT}agents/sb-owner.elf`, args: 'name=bench version=1.0.0 arg=6 prio=3 call=echo' },
];

async function bootSandboxBench() {
  const dir = mkdtempSync(join(tmpdir(), 'tars-bench-'));
  const q = startQemu({ kernel: `${OUT}tars-kernel.elf`, modules: SANDBOX_MODULES, accel: 'tcg', memoryMb: MEMORY_MB, icount: true }, dir);
  try {
    const sum = await q.waitFor((e) => e.ev === 'metric' && e.name === 'sb_sum_call_min', { timeoutMs: 300_000 });
    return { sbSum: Number(sum.value) };
  } finally {
    await q.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const goprog = goProgram();
const linux = bootLinux(debianKernel(), initramfs(goprog));
const tars = { ...(await bootTars()), ...(await bootSandboxBench()) };
const rtt = (await bootAgent(rttProgram(), 'rtt', /^TARSBENCH rtt_done=1$/)).figures;
// The Go program prints one line, at its end: its first output.
const go = goprog ? await bootAgent(goprog, 'goprog', /^go answer /) : undefined;
const rows = [
  ['boot to init / ready (instructions)', linux.init_tsc, tars.readyInstructions],
  ['IPC round trip, pipe vs call+reply (min)', linux.pipe_rtt_min, tars.rttMin],
  ['IPC round trip, futex vs call+reply (min)', linux.futex_rtt_min, tars.rttMin],
  ['IPC round trip, socketpair vs call+reply (min)', linux.socketpair_rtt_min, tars.rttMin],
  ['IPC round trip, futex vs call+reply (avg)', linux.futex_rtt_avg, tars.rttAvg],
  ['memory in use after boot (KiB)', linux.mem_used_kb, tars.memUsedKb],
  ['spawn -> child runs, fork+exec vs spawn (Rust agent)', linux.forkexec_first, tars.spawnFirst],
  ['spawn -> child runs, posix_spawn vs spawn', linux.posix_spawn_first, tars.spawnFirst],
  ['spawn -> child reaped, fork+exec vs spawn+wait', linux.forkexec_done, tars.spawnDone],
  ['spawn -> child reaped, posix_spawn vs spawn+wait', linux.posix_spawn_done, tars.spawnDone],
  ['pipe round trip, two threads (min)', linux.pipe_thread_rtt_min, rtt.pipe_thread_rtt_min],
  ['pipe round trip, two threads (avg)', linux.pipe_thread_rtt_avg, rtt.pipe_thread_rtt_avg],
  ['eventfd round trip, two threads (min)', linux.eventfd_thread_rtt_min, rtt.eventfd_thread_rtt_min],
  ['eventfd round trip, two threads (avg)', linux.eventfd_thread_rtt_avg, rtt.eventfd_thread_rtt_avg],
  ...(go && linux.go_first_output_tsc ? [['boot -> first output of the Go program (instructions)', linux.go_first_output_tsc, go.firstUs * 1000]] : []),
  ['sum(2, 40): fork+exec per call vs sandbox call', linux.fn_forkexec, tars.sbSum],
  ['sum(2, 40): long-lived process over a pipe vs sandbox call', linux.fn_pipe_rtt_min, tars.sbSum],
];
if (!go) console.log('Go program figure skipped: no go compiler (apt-get install golang-go)');
console.log(`Same QEMU: pc, ${MEMORY_MB} MiB, TCG, -icount shift=0. Linux: ${readdirSync(WORK).find((f) => f.startsWith('vmlinuz-'))} + static /init.`);
console.log(`${'figure'.padEnd(56)}        Linux         TARS   Linux/TARS`);
for (const [what, l, t] of rows) console.log(`${what.padEnd(56)} ${String(Math.round(l)).padStart(12)} ${String(Math.round(t)).padStart(12)}   ${(l / t).toFixed(2)}x`);
if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify({ linux, tars }, null, 2));
recordFigures(
  'tars-vs-linux',
  rows.map(([what, l, t]) => ({ name: `TARS ${what}`, value: t, unit: what.includes('KiB') ? 'KiB' : 'instructions', better: 'lower', baseline: { name: 'Linux', value: l } })),
);
