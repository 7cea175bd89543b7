// Block device figure (issue 30, first layer): sequential 4 KiB reads from a virtio-blk disk
// through the user-mode driver (agents/virtio-blk), requested one by one by a client agent over
// IPC with the data in shared memory, against the same reads issued by the driver's own loop (no
// IPC) in the same run (agents/blk-client mode 4: 64 interleaved turns of 8 reads on each side,
// 512 reads each, so that load on the host weighs on both sides alike).
// QEMU TCG without -icount: the cycles are the host's TSC, both sides measured alike.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startQemu } from '@tars/deploy';
import { recordFigures } from '../../../scripts/bench-record.mjs';

const OUT = fileURLToPath(new URL('../out/', import.meta.url));
const MODULES = [
  { path: `${OUT}agents/virtio-blk.elf`, args: 'name=virtio-blk version=1.0.0 prio=2 arg=0 device=blk0 serve=blk shm=blkbuf notify=blkirq' },
  { path: `${OUT}agents/blk-client.elf`, args: 'name=bench version=1.0.0 prio=3 arg=4 call=blk shm=blkbuf' },
];

async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'tars-bench-blk-'));
  const disk = join(dir, 'bench.img');
  execFileSync('qemu-img', ['create', '-q', '-f', 'raw', disk, '16M']);
  const q = startQemu({ kernel: `${OUT}tars-kernel.elf`, modules: MODULES, accel: 'tcg', memoryMb: 128, disks: [{ path: disk, format: 'raw' }] }, dir);
  try {
    await q.waitFor((e) => e.ev === 'ready', { timeoutMs: 60_000 });
    const end = await q.waitFor((e) => e.ev === 'log' && e.source === 'bench' && /^bench: (\d+ x|.*failed|disk too small)/.test(String(e.msg)), { timeoutMs: 300_000 });
    if (!/^bench: \d+ x/.test(String(end.msg))) throw new Error(`the block bench failed: ${end.msg}`);
    return Object.fromEntries(q.reader.events.filter((e) => e.ev === 'metric').map((e) => [e.name, Number(e.value)]));
  } finally {
    await q.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const m = await run();
for (const k of ['blk_read_local_us', 'blk_read_ipc_us', 'blk_read_local_kib_s', 'blk_read_ipc_kib_s', 'blk_read_local_cycles', 'blk_read_ipc_cycles', 'blk_ipc_rtt_cycles_min', 'blk_ipc_ratio_x1000']) if (!Number.isFinite(m[k])) throw new Error(`metric ${k} missing from the block bench`);
const ratio = m.blk_ipc_ratio_x1000 / 1000;
console.log('virtio-blk, sequential 4 KiB reads (512 each side, interleaved in turns of 8), QEMU TCG');
console.log(`driver's own loop (no IPC)   ${String(m.blk_read_local_us).padStart(8)} us  ${String(m.blk_read_local_kib_s).padStart(8)} KiB/s`);
console.log(`client over IPC + shm        ${String(m.blk_read_ipc_us).padStart(8)} us  ${String(m.blk_read_ipc_kib_s).padStart(8)} KiB/s`);
console.log(`per read: driver loop ${m.blk_read_local_cycles} cycles, over IPC ${m.blk_read_ipc_cycles} cycles (+${m.blk_read_ipc_cycles - m.blk_read_local_cycles})`);
console.log(`ratio (TSC cycles, IPC / driver loop): ${ratio.toFixed(3)}x`);
console.log(`the IPC path alone (info request, no device; min of 256): ${m.blk_ipc_rtt_cycles_min} cycles = ${((100 * m.blk_ipc_rtt_cycles_min) / m.blk_read_local_cycles).toFixed(2)}% of a driver-loop read`);
recordFigures('kernel-blk-read', [
  { name: 'virtio-blk sequential 4 KiB read throughput through IPC', value: m.blk_read_ipc_kib_s, unit: 'KiB/s', better: 'higher', baseline: { name: "the driver's own loop, no IPC (same run)", value: m.blk_read_local_kib_s } },
  { name: 'virtio-blk 4 KiB read over IPC, cycles per read', value: m.blk_read_ipc_cycles, unit: 'TSC cycles', better: 'lower', baseline: { name: "the driver's own loop (same run)", value: m.blk_read_local_cycles } },
  { name: 'virtio-blk request IPC round trip (info, no device)', value: m.blk_ipc_rtt_cycles_min, unit: 'TSC cycles', better: 'lower', baseline: { name: "a driver-loop 4 KiB read (same run)", value: m.blk_read_local_cycles } },
  { name: 'virtio-blk 4 KiB reads: IPC time / driver-loop time', value: ratio, unit: 'ratio', better: 'lower', baseline: { name: 'driver loop', value: 1 } },
]);
