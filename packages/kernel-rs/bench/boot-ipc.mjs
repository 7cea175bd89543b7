// Kernel benchmarks under TCG: boot to `ready` (QEMU wall time and guest time) against a baseline
// boot of the 89-byte accel-probe kernel in the same run, and IPC/context-switch figures in cycles
// (rdtsc) and, with -icount (1 instruction = 1 ns of TSC), in instructions.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { findHostWindow, hotSwapModule, ProtocolClient, startQemu } from '@tars/deploy';
import { probeAccel } from '@tars/core';
import { recordFigures } from '../../../scripts/bench-record.mjs';

const OUT = fileURLToPath(new URL('../out/', import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const MODULES = [
  { path: `${OUT}agents/pong.elf`, args: 'name=pong version=1.0.0 prio=2 serve=echo shm=tensor notify=ready' },
  { path: `${OUT}agents/ping.elf`, args: 'name=ping version=1.0.0 prio=3 call=echo shm=tensor notify=ready' },
];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function bootOnce(icount, machine = 'pc') {
  const dir = mkdtempSync(join(tmpdir(), 'tars-bench-'));
  const t0 = performance.now();
  const q = startQemu({ kernel: `${OUT}tars-kernel.elf`, modules: MODULES, accel: 'tcg', memoryMb: 128, icount, machine }, dir);
  try {
    const ready = await q.waitFor((e) => e.ev === 'ready', { timeoutMs: 30_000 });
    const wall = performance.now() - t0;
    const rtt = await q.waitFor((e) => e.ev === 'metric' && e.name === 'ipc_rtt_cycles_min', { timeoutMs: 60_000 });
    const avg = await q.waitFor((e) => e.ev === 'metric' && e.name === 'ipc_rtt_cycles_avg', { timeoutMs: 60_000 });
    const client = await ProtocolClient.connect(q.paths.control);
    const stats = await client.stats();
    // Hot-swap pong with its own image: downtime is the kernel's measure, from suspending the
    // old task (when the new one takes the state over) to the new one's SYS_READY.
    const swap = await hotSwapModule(client, { module: 'pong', image: readFileSync(`${OUT}agents/pong.elf`), version: '1.0.1' });
    client.close();
    return { wall, guestUs: Number(ready.boot_us), rttMin: Number(rtt.value), rttAvg: Number(avg?.value ?? 0), switchMin: stats.scheduler.switch_cycles_min, switchAvg: stats.scheduler.switch_cycles_avg, downtimeUs: swap?.downtimeUs };
  } finally {
    await q.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const baseline = [];
for (let i = 0; i < RUNS; i++) baseline.push((await probeAccel('tcg')).wallMs);
const tcg = [];
for (let i = 0; i < RUNS; i++) tcg.push(await bootOnce(false));
// microvm (what `os deploy` picks for the kernel format) against its own floor.
const baselineMv = [];
for (let i = 0; i < RUNS; i++) baselineMv.push((await probeAccel('tcg', undefined, undefined, 'microvm')).wallMs);
const mv = [];
for (let i = 0; i < RUNS; i++) mv.push(await bootOnce(false, 'microvm'));
const ic = [];
for (let i = 0; i < 3; i++) ic.push(await bootOnce(true));

// Moving an image into the guest: 1 MB (pong padded) through 8 KiB base64 frames on the serial
// control channel (the baseline) and through the host window (guest RAM shared with the host),
// in the same boot, with ping/pong running. Upload = first byte sent -> the kernel holds the image.
async function imageTransfer() {
  const dir = mkdtempSync(join(tmpdir(), 'tars-bench-win-'));
  const q = startQemu({ kernel: `${OUT}tars-kernel.elf`, modules: MODULES, accel: 'tcg', memoryMb: 128, hostWindow: { path: join(dir, 'guest-ram'), mib: 20 } }, dir);
  try {
    await q.waitFor((e) => e.ev === 'ready', { timeoutMs: 30_000 });
    const client = await ProtocolClient.connect(q.paths.control, { timeoutMs: 60_000 });
    const pong = readFileSync(`${OUT}agents/pong.elf`);
    const image = Buffer.concat([pong, Buffer.alloc((1 << 20) - pong.length, 0x5a)]);
    const frames = await hotSwapModule(client, { module: 'pong', image, version: '1.0.1', timeoutMs: 60_000 });
    const window = await findHostWindow(client, dir);
    const win = await hotSwapModule(client, { module: 'pong', image, version: '1.0.2', window, timeoutMs: 60_000 });
    client.close();
    return { frames, win };
  } finally {
    await q.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
const transfers = [];
for (let i = 0; i < 3; i++) transfers.push(await imageTransfer());
const mbps = (ms) => 1.048576 / (ms / 1000);
const upFrames = median(transfers.map((t) => t.frames.uploadMs));
const upWin = median(transfers.map((t) => t.win.uploadMs));
const totFrames = median(transfers.map((t) => t.frames.totalMs));
const totWin = median(transfers.map((t) => t.win.totalMs));
console.log(`image upload 1 MB, control-channel frames (baseline)    median ${upFrames.toFixed(1)} ms (${mbps(upFrames).toFixed(2)} MB/s)`);
console.log(`image upload 1 MB, host window                          median ${upWin.toFixed(1)} ms (${mbps(upWin).toFixed(1)} MB/s, ${(upFrames / upWin).toFixed(0)}x; goal >= 20 MB/s)`);
console.log(`hot-swap of that 1 MB image, whole (upload, sha256, load, ready): frames ${totFrames} ms, window ${totWin} ms`);

const b = median(baseline);
const w = median(tcg.map((r) => r.wall));
console.log(`QEMU start+exit of the 89-byte probe kernel (baseline)  median ${b.toFixed(1)} ms`);
console.log(`boot to ready, QEMU wall (spawn -> ready seen)          median ${w.toFixed(1)} ms (${(w / b).toFixed(2)}x baseline; goal < 100 ms)`);
const bMv = median(baselineMv);
const wMv = median(mv.map((r) => r.wall));
console.log(`QEMU start+exit of the probe kernel on microvm           median ${bMv.toFixed(1)} ms`);
console.log(`boot to ready on microvm, QEMU wall                     median ${wMv.toFixed(1)} ms (${(wMv / bMv).toFixed(2)}x its baseline, ${(wMv / b).toFixed(2)}x the pc baseline)`);
console.log(`boot to ready, guest time (TSC, TCG)                    median ${(median(tcg.map((r) => r.guestUs)) / 1000).toFixed(2)} ms`);
console.log(`boot to ready, guest instructions (-icount)             median ${(median(ic.map((r) => r.guestUs)) / 1000).toFixed(2)} M instructions (= ms at 1 GHz; goal < 5 ms)`);
console.log(`IPC call+reply round trip, TCG cycles                   min ${median(tcg.map((r) => r.rttMin))}, avg ${median(tcg.map((r) => r.rttAvg))}`);
console.log(`IPC call+reply round trip, instructions (-icount)       min ${median(ic.map((r) => r.rttMin))}, avg ${median(ic.map((r) => r.rttAvg))} (seL4 publishes ~375 + 382 cycles on Skylake)`);
console.log(`context switch (kernel path), instructions (-icount)    min ${median(ic.map((r) => r.switchMin))}, avg ${median(ic.map((r) => r.switchAvg))}`);
const downtime = median(tcg.map((r) => r.downtimeUs ?? Infinity));
const downtimeIc = median(ic.map((r) => r.downtimeUs ?? Infinity));
console.log(`hot-swap downtime (pong), guest TSC under TCG           median ${downtime} µs (goal < 1000 µs; includes TCG translating the new code)`);
console.log(`hot-swap downtime (pong), -icount (1 instruction = 1 ns) median ${downtimeIc} µs`);
recordFigures('kernel', [
  { name: 'image upload 1 MB, host window', value: upWin, unit: 'ms', better: 'lower', baseline: { name: 'control-channel frames', value: upFrames } },
  { name: 'hot-swap 1 MB image, host window', value: totWin, unit: 'ms', better: 'lower', baseline: { name: 'control-channel frames', value: totFrames } },
  { name: 'hot-swap downtime', value: downtime, unit: 'us', better: 'lower' },
  { name: 'hot-swap downtime (-icount)', value: downtimeIc, unit: 'us', better: 'lower' },
  { name: 'boot to ready, QEMU wall', value: w, unit: 'ms', better: 'lower', baseline: { name: 'QEMU probe start+exit', value: b } },
  { name: 'boot to ready on microvm, QEMU wall', value: wMv, unit: 'ms', better: 'lower', baseline: { name: 'QEMU probe start+exit on microvm', value: bMv } },
  { name: 'boot to ready on microvm vs pc, QEMU wall', value: wMv, unit: 'ms', better: 'lower', baseline: { name: 'boot to ready on pc', value: w } },
  { name: 'boot to ready, guest instructions', value: median(ic.map((r) => r.guestUs)) * 1000, unit: 'instructions', better: 'lower' },
  { name: 'IPC call+reply round trip (min)', value: median(ic.map((r) => r.rttMin)), unit: 'instructions', better: 'lower' },
  { name: 'IPC call+reply round trip (avg)', value: median(ic.map((r) => r.rttAvg)), unit: 'instructions', better: 'lower' },
  { name: 'context switch, kernel path (min)', value: median(ic.map((r) => r.switchMin)), unit: 'instructions', better: 'lower' },
]);
