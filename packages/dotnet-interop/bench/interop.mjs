// dotnet-interop benchmarks, each against a baseline measured in the same run:
// - call overhead Rust → .NET and .NET → Rust beside Rust → Rust through the same fn-pointer type
//   (host calls: the same host function called from Rust; a short call with a trivial body);
// - Rust → .NET messages one call each vs the batched path (on_messages);
// - cold start (process start → first step): NativeAOT library vs the same agent under the JIT;
// - zero-copy tensor exchange vs copying the tensor in and out; binary sizes.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { recordFigures } from '../../../scripts/bench-record.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const harness = 'out/tars-agent-harness';
const aot = 'out/agents/counter_csharp.so';
if (!existsSync(harness) || !existsSync(aot)) throw new Error('build first: npm run build -w packages/dotnet-interop');
if (!existsSync('out/jit/JitHost.dll')) execFileSync('dotnet', ['build', 'bench/JitHost/JitHost.csproj', '-c', 'Release', '--nologo', '-v', 'quiet', '-o', 'out/jit'], { stdio: 'ignore' });

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
function timed(cmd, args) {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { ms: performance.now() - t0, out: r.stdout };
}

const b = JSON.parse(execFileSync(harness, ['bench', aot], { encoding: 'utf8' }));
console.log(`call Rust → Rust (fn pointer, baseline)   ${b.rust_to_rust_ns} ns/call`);
console.log(`call Rust → .NET (NativeAOT tars_step)    ${b.rust_to_dotnet_ns} ns/call (${(b.rust_to_dotnet_ns / b.rust_to_rust_ns).toFixed(1)}x baseline)`);
console.log(`call .NET → Rust (host now_us, real clock) ${b.dotnet_to_rust_ns} ns/call vs Rust → the same host function ${b.rust_to_host_ns} ns (${(b.dotnet_to_rust_ns / b.rust_to_host_ns).toFixed(2)}x)`);
console.log(`call .NET → Rust, short call (trivial body) ${b.dotnet_to_rust_short_ns} ns/call vs Rust → the same function ${b.rust_to_rust_short_ns} ns (${(b.dotnet_to_rust_short_ns / b.rust_to_rust_short_ns).toFixed(2)}x; goal ≤ 3x; SuppressGCTransition)`);
console.log(`Rust → .NET messages, one call each        ${b.message_single_ns} ns/message`);
console.log(`Rust → .NET messages, batched (${b.batch_path}, 1000/call) ${b.message_batched_ns} ns/message (${(b.message_single_ns / b.message_batched_ns).toFixed(2)}x faster)`);
console.log(`tensor exchange, zero-copy view           ${b.zero_copy_gbps} GB/s`);
console.log(`tensor exchange, copy in + out (baseline) ${b.copying_gbps} GB/s (zero-copy is ${(b.zero_copy_gbps / b.copying_gbps).toFixed(1)}x)`);

const base = median(Array.from({ length: RUNS }, () => timed(harness, []).ms));
const aotRuns = Array.from({ length: RUNS }, () => timed(harness, ['first-step', aot]));
const jitRuns = Array.from({ length: RUNS }, () => timed('dotnet', ['out/jit/JitHost.dll']));
const inner = (runs) => median(runs.map((r) => JSON.parse(r.out).first_step_us / 1000));
console.log(`process start, harness alone (baseline)   ${base.toFixed(1)} ms`);
console.log(`cold start → first step, NativeAOT        ${median(aotRuns.map((r) => r.ms)).toFixed(1)} ms process, ${inner(aotRuns).toFixed(1)} ms to first step`);
console.log(`cold start → first step, JIT (dotnet dll) ${median(jitRuns.map((r) => r.ms)).toFixed(1)} ms process, ${inner(jitRuns).toFixed(1)} ms to first step (${(inner(jitRuns) / inner(aotRuns)).toFixed(1)}x NativeAOT)`);
const size = (p) => `${(statSync(p).size / 1024).toFixed(0)} KiB`;
console.log(`sizes: counter_csharp.so ${size(aot)}, counter_fsharp.so ${size('out/agents/counter_fsharp.so')}; JIT: JitHost.dll ${size('out/jit/JitHost.dll')} + Tars.Agents.Sdk.dll ${size('out/jit/Tars.Agents.Sdk.dll')} + the shared .NET runtime`);
recordFigures('interop', [
  { name: 'call Rust → .NET (tars_step)', value: b.rust_to_dotnet_ns, unit: 'ns', better: 'lower', baseline: { name: 'Rust → Rust', value: b.rust_to_rust_ns } },
  { name: 'call .NET → Rust, short call', value: b.dotnet_to_rust_short_ns, unit: 'ns', better: 'lower', baseline: { name: 'Rust → the same function', value: b.rust_to_rust_short_ns } },
  { name: 'call .NET → Rust, host now_us', value: b.dotnet_to_rust_ns, unit: 'ns', better: 'lower', baseline: { name: 'Rust → the same function', value: b.rust_to_host_ns } },
  { name: 'Rust → .NET message, batched', value: b.message_batched_ns, unit: 'ns', better: 'lower', baseline: { name: 'one call each', value: b.message_single_ns } },
  { name: 'tensor exchange, zero-copy', value: b.zero_copy_gbps, unit: 'GB/s', better: 'higher', baseline: { name: 'copy in + out', value: b.copying_gbps } },
  { name: 'cold start to first step, NativeAOT', value: inner(aotRuns), unit: 'ms', better: 'lower', baseline: { name: 'JIT', value: inner(jitRuns) } },
  { name: 'size counter_csharp.so', value: statSync(aot).size / 1024, unit: 'KiB', better: 'lower' },
]);
