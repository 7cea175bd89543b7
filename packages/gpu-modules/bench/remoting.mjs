// GPU remoting (issue 27), each figure against its baseline in the same run: a launch through the
// broker's ring (asynchronous: many launches then one sync; synchronous: launch + sync) against
// calling the same entry point's host implementation directly, as the broker's own launch does;
// host→device copies from the channel's data window against the same copy from a private buffer.
// On this machine the broker runs its CPU backend; on a GPU machine pass BENCH_GPU_BACKEND=cuda.
// Goals (issue 27): asynchronous launch ≤ 2x the broker's own; bandwidth ≥ 90% of the broker's.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { recordFigures } from '../../../scripts/bench-record.mjs';

const backend = process.env.BENCH_GPU_BACKEND ?? 'cpu';
for (const f of ['out/tars-gpu-broker', 'out/tgpu-bench', 'out/module.broker', 'out/module.host.so']) {
  if (!existsSync(f)) throw new Error(`build first: npm run build -w @tars/gpu-modules (${f} is missing)`);
}
const sha = readFileSync('out/module.broker', 'utf8').match(/^sha256 ([0-9a-f]{64})$/m)?.[1];
// The region on tmpfs, as the deployment's ivshmem backing file is (a disk-backed file would be
// written back to disk as the data window is written).
const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'tars-gpu-bench-'));
const region = join(dir, 'gpu.shm');
const broker = spawn('out/tars-gpu-broker', ['--region', region, '--backend', backend, '--module', 'out', '--channels', '2'], { stdio: ['ignore', 'pipe', 'inherit'] });
try {
  await new Promise((resolve, reject) => {
    const lines = createInterface({ input: broker.stdout });
    lines.on('line', (l) => (JSON.parse(l).ready ? resolve() : reject(new Error(`broker: ${l}`))));
    broker.on('exit', (code) => reject(new Error(`the broker exited (${code}) before it was ready`)));
  });
  const bench = (channel, agents) => JSON.parse(execFileSync('out/tgpu-bench', ['--region', region, '--sha', sha, '--host', 'out/module.host.so', '--channel', String(channel), '--agents', String(agents), '--launches', '20000'], { encoding: 'utf8' }));
  const small = bench(0, 256);
  const large = bench(1, 4096);
  const figures = [];
  for (const b of [small, large]) {
    console.log(`launch marl_env_step ${b.agents} agents, broker's own (${backend === 'cuda' ? 'cuLaunchKernel' : 'direct call'}, baseline) ${b.direct_launch_us.toFixed(2)} µs`);
    console.log(`launch through the ring, asynchronous (${backend})        ${b.async_launch_us.toFixed(2)} µs (${b.async_ratio.toFixed(2)}x the broker's own; goal ≤ 2x)`);
    console.log(`launch through the ring, synchronous (launch + sync)    ${b.sync_launch_us.toFixed(2)} µs (${b.sync_ratio.toFixed(2)}x)`);
    figures.push(
      { name: `remoting async launch, ${b.agents} agents (${backend})`, value: b.async_launch_us, unit: 'µs', better: 'lower', baseline: { name: backend === 'cuda' ? 'cuLaunchKernel of the same kernel' : 'the broker calling the same entry point', value: b.direct_launch_us } },
      { name: `remoting sync launch, ${b.agents} agents (${backend})`, value: b.sync_launch_us, unit: 'µs', better: 'lower', baseline: { name: backend === 'cuda' ? 'cuLaunchKernel of the same kernel' : 'the broker calling the same entry point', value: b.direct_launch_us } },
    );
  }
  console.log(`h2d from the data window through the ring  ${small.h2d_ring_gbps.toFixed(2)} GB/s vs the same copy from a private buffer ${small.h2d_own_gbps.toFixed(2)} GB/s (${(small.h2d_fraction * 100).toFixed(0)}%; goal ≥ 90%)`);
  figures.push({ name: `remoting h2d bandwidth (${backend})`, value: small.h2d_ring_gbps, unit: 'GB/s', better: 'higher', baseline: { name: "the broker's own buffer", value: small.h2d_own_gbps } });
  recordFigures('gpu-remoting', figures);
} finally {
  broker.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
