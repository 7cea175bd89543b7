// GPU remoting from inside TARS (issue 27): marl_env_step for 256 agents launched by an agent in
// the OS (agents/gpu-client mode 5: asynchronously, many launches then one sync; synchronously,
// launch + sync), against the broker's own launch of the same entry point measured on the host in
// the same run (tgpu-bench on another channel of the same broker, before and after the guest: its
// direct call, the better of the two). The broker
// runs its CPU backend; QEMU runs TCG, so the guest's side includes TCG's cost of the client code.
// Each guest phase is timed on the host between the log lines that open and close it (20,000
// launches asynchronously, 2,000 synchronously), so the event path's latency weighs little.
// Goal (issue 27): an asynchronous launch from the guest at most 2x the broker's own.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGpuBroker, startQemu } from '@tars/deploy';
import { recordFigures } from '../../../scripts/bench-record.mjs';

const OUT = fileURLToPath(new URL('../out/', import.meta.url));
const GPU = fileURLToPath(new URL('../../gpu-modules/out/', import.meta.url));
for (const f of ['tars-gpu-broker', 'tgpu-bench', 'module.broker', 'module.host.so']) {
  if (!existsSync(join(GPU, f))) throw new Error(`build first: npm run build -w @tars/gpu-modules (${f} is missing)`);
}
const sha = readFileSync(join(GPU, 'module.broker'), 'utf8').match(/^sha256 ([0-9a-f]{64})$/m)?.[1];
const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'tars-bench-gpu-'));
const broker = await startGpuBroker({ binary: join(GPU, 'tars-gpu-broker'), region: join(dir, 'gpu.shm'), backend: 'cpu', modules: [GPU], channels: 3, dataSize: 1 << 20 });
let guest;
let host;
// The host's figures before and after the guest's run (the best of the two): load on this
// machine moves between them.
const hostBench = (channel) => JSON.parse(execFileSync(join(GPU, 'tgpu-bench'), ['--region', broker.region, '--sha', sha, '--host', join(GPU, 'module.host.so'), '--channel', String(channel), '--agents', '256', '--launches', '20000'], { encoding: 'utf8' }));
const best = (a, b) => (a.direct_launch_us <= b.direct_launch_us ? a : b);
try {
  const before = hostBench(1);
  const q = startQemu({ kernel: `${OUT}tars-kernel.elf`, modules: [{ path: `${OUT}agents/gpu-client.elf`, args: 'name=bench version=1.0.0 arg=5 device=gpu0' }], accel: 'tcg', memoryMb: 128, gpu: { region: broker.region, sizeBytes: broker.sizeBytes } }, join(dir, 'run'));
  try {
    // Each phase is timed here between the guest's lines that open and close it (the guest's
    // clock under TCG need not keep the host's time); the best of the repetitions.
    const line = (re) => q.waitFor((e) => e.ev === 'log' && e.source === 'bench' && (re.test(String(e.msg)) || /failed/.test(String(e.msg))), { timeoutMs: 600_000 });
    guest = { async: Infinity, sync: Infinity };
    for (let rep = 0; ; rep++) {
      const next = await line(new RegExp(`^gpu bench: (async ${rep} begin|done)`));
      if (/failed/.test(String(next.msg))) throw new Error(`the guest bench failed: ${next.msg}`);
      if (/done/.test(String(next.msg))) {
        const m = /launches=(\d+) sync_launches=(\d+)/.exec(String(next.msg));
        guest.launches = Number(m[1]);
        guest.syncLaunches = Number(m[2]);
        break;
      }
      for (const phase of ['async', 'sync']) {
        if (phase === 'sync') await line(new RegExp(`^gpu bench: sync ${rep} begin`));
        const t0 = performance.now();
        const end = await line(new RegExp(`^gpu bench: ${phase} ${rep} end`));
        if (/failed/.test(String(end.msg))) throw new Error(`the guest bench failed: ${end.msg}`);
        guest[phase] = Math.min(guest[phase], performance.now() - t0);
      }
    }
  } finally {
    await q.stop();
  }
  host = best(before, hostBench(2));
} finally {
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
}
const direct = host.direct_launch_us;
const asyncUs = (guest.async * 1000) / guest.launches;
const syncUs = (guest.sync * 1000) / guest.syncLaunches;
console.log('marl_env_step, 256 agents, CPU backend; guest under QEMU TCG');
console.log(`the broker's own launch (direct call, baseline)      ${direct.toFixed(2)} µs`);
console.log(`from the host through the ring, asynchronous          ${host.async_launch_us.toFixed(2)} µs (${host.async_ratio.toFixed(2)}x)`);
console.log(`from an agent inside TARS, asynchronous               ${asyncUs.toFixed(2)} µs (${(asyncUs / direct).toFixed(2)}x; goal ≤ 2x)`);
console.log(`from an agent inside TARS, synchronous (launch+sync)  ${syncUs.toFixed(2)} µs (${(syncUs / direct).toFixed(2)}x)`);
recordFigures('kernel-gpu-remoting', [
  { name: 'in-OS async launch, marl_env_step 256 agents (CPU backend, TCG guest)', value: asyncUs, unit: 'µs', better: 'lower', baseline: { name: 'the broker calling the same entry point (same run)', value: direct } },
  { name: 'in-OS sync launch, marl_env_step 256 agents (CPU backend, TCG guest)', value: syncUs, unit: 'µs', better: 'lower', baseline: { name: 'the broker calling the same entry point (same run)', value: direct } },
]);
