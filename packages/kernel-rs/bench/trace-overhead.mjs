// Tracing overhead (issue 29), in one run under -icount (1 instruction = 1 ns of TSC, so the
// figures are instruction counts and repeat exactly): ping's IPC round trip (its boot-time
// benchmark, `ipc_rtt_cycles_min` / `_avg`) with the kernel built without trace points (when
// BASE_KERNEL names one: the baseline for "off"), with tracing compiled in but off, on with
// every event (`trace=on`), and on with a filter that drops everything (`trace=task==999999`).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startQemu } from '@tars/deploy';
import { recordFigures } from '../../../scripts/bench-record.mjs';

const OUT = fileURLToPath(new URL('../out/', import.meta.url));
const MODULES = [
  { path: `${OUT}agents/pong.elf`, args: 'name=pong version=1.0.0 prio=2 serve=echo shm=tensor notify=ready' },
  { path: `${OUT}agents/ping.elf`, args: 'name=ping version=1.0.0 prio=3 call=echo shm=tensor notify=ready' },
];

async function rtt(kernel, append) {
  const dir = mkdtempSync(join(tmpdir(), 'tars-bench-trace-'));
  const q = startQemu({ kernel, modules: MODULES, accel: 'tcg', memoryMb: 256, icount: true, ...(append ? { append } : {}) }, dir);
  try {
    const ready = await q.waitFor((e) => e.ev === 'ready', { timeoutMs: 30_000 });
    const min = await q.waitFor((e) => e.ev === 'metric' && e.name === 'ipc_rtt_cycles_min', { timeoutMs: 120_000 });
    const avg = await q.waitFor((e) => e.ev === 'metric' && e.name === 'ipc_rtt_cycles_avg', { timeoutMs: 120_000 });
    return { min: Number(min.value), avg: Number(avg.value), bootUs: Number(ready.boot_us) };
  } finally {
    await q.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const kernel = `${OUT}tars-kernel.elf`;
const rows = [];
// The baseline: the same kernel with its trace points compiled out (or BASE_KERNEL's).
let base = process.env.BASE_KERNEL;
if (!base) {
  execFileSync('bash', [fileURLToPath(new URL('../scripts/build.sh', import.meta.url)), 'kernel-notrace'], { stdio: 'inherit' });
  base = `${OUT}bench/tars-kernel-notrace.elf`;
}
if (!existsSync(base)) throw new Error(`no baseline kernel at ${base}`);
rows.push(['no trace points (baseline kernel)', await rtt(base)]);
rows.push(['trace points compiled in, tracing off', await rtt(kernel)]);
rows.push(['tracing on, every event', await rtt(kernel, 'trace=on')]);
rows.push(['tracing on, filter drops everything', await rtt(kernel, 'trace=task==999999')]);
const off = rows.find((r) => r[0].startsWith('trace points compiled in'))[1];
const ref = rows[0][1];
console.log('IPC call+reply round trip under -icount (instructions), ping/pong boot-time benchmark, 2000 rounds');
for (const [name, r] of rows) {
  console.log(`${name.padEnd(40)} min ${String(r.min).padStart(6)}  avg ${String(r.avg).padStart(6)}  (min ${((r.min / ref.min - 1) * 100).toFixed(1)}% vs ${rows[0][0]}; ${(r.min / off.min).toFixed(2)}x of off)  boot ${r.bootUs} µs`);
}
const [, onAll] = rows.find((r) => r[0] === 'tracing on, every event');
const [, dropAll] = rows.find((r) => r[0] === 'tracing on, filter drops everything');
const baseline = { name: 'IPC round trip, no trace points', value: ref.min };
recordFigures('kernel-trace', [
  { name: 'IPC round trip, trace points in, tracing off (min)', value: off.min, unit: 'instructions', better: 'lower', baseline },
  { name: 'IPC round trip, tracing off / no trace points', value: off.min / ref.min, unit: 'x', better: 'lower' },
  { name: 'IPC round trip, tracing every event (min)', value: onAll.min, unit: 'instructions', better: 'lower', baseline },
  { name: 'IPC round trip, tracing every event / tracing off', value: onAll.min / off.min, unit: 'x', better: 'lower' },
  { name: 'IPC round trip, filter drops everything (min)', value: dropAll.min, unit: 'instructions', better: 'lower', baseline },
  { name: 'boot to ready, trace points in, tracing off', value: off.bootUs, unit: 'µs (guest, -icount)', better: 'lower', baseline: { name: 'boot to ready, no trace points', value: ref.bootUs } },
  { name: 'boot to ready, tracing every event', value: onAll.bootUs, unit: 'µs (guest, -icount)', better: 'lower', baseline: { name: 'boot to ready, tracing off', value: off.bootUs } },
]);
