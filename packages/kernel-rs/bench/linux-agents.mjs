// Linux-personality agents against Rust no_std agents, in one run (issue 14): boot → hello of an
// unmodified NativeAOT C# program vs the Rust `pong` agent (guest time and -icount instructions
// from the kernel's clock), IPC round trips to pong from a .NET agent and a C program (libtars)
// vs from the Rust ping, what an idle .NET agent costs in frames, and binary sizes. Builds the
// C# programs with the real dotnet SDK and the C one with gcc first.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProtocolClient, startQemu } from '@tars/deploy';
import { recordFigures } from '../../../scripts/bench-record.mjs';

const OUT = fileURLToPath(new URL('../out/', import.meta.url));
const HERE = fileURLToPath(new URL('../test/linux/', import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const work = mkdtempSync(join(tmpdir(), 'tars-bench-linux-'));

try {
  cpSync(join(HERE, 'dotnet'), join(work, 'src'), { recursive: true });
  execFileSync('dotnet', ['publish', join(work, 'src', 'Probe.csproj'), '-c', 'Release', '-o', join(work, 'out'), '--nologo', '-v', 'quiet'], {
    env: { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: '1', DOTNET_NOLOGO: '1' },
    stdio: 'pipe',
  });
  const probe = join(work, 'out', 'probe');
  // IPC clients: C and C# through libtars.
  const lib = join(work, 'libtars');
  const dotnetInterop = fileURLToPath(new URL('../../dotnet-interop/', import.meta.url));
  execFileSync('bash', [join(dotnetInterop, 'scripts/build-libtars.sh'), lib]);
  const cIpc = join(work, 'ipc-c');
  execFileSync('gcc', ['-O2', '-static-pie', '-I', join(dotnetInterop, 'native/libtars'), '-o', cIpc, fileURLToPath(new URL('linux/ipc.c', import.meta.url)), join(lib, 'libtars.a')]);
  cpSync(fileURLToPath(new URL('linux/ipc-dotnet', import.meta.url)), join(work, 'ipc-src'), { recursive: true });
  execFileSync('dotnet', ['publish', join(work, 'ipc-src', 'IpcBench.csproj'), '-c', 'Release', '-o', join(work, 'ipc-out'), '--nologo', '-v', 'quiet', `-p:TarsLibDir=${lib}`], {
    env: { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: '1', DOTNET_NOLOGO: '1' },
    stdio: 'pipe',
  });
  const dotnetIpc = join(work, 'ipc-out', 'ipcbench');
  const PONG = { path: `${OUT}agents/pong.elf`, args: 'name=pong version=1.0.0 prio=2 serve=echo shm=tensor notify=ready' };

  /** One client against pong under -icount: instructions per round trip. */
  async function ipcRun(client) {
    const dir = mkdtempSync(join(work, 'q-'));
    const q = startQemu({ kernel: `${OUT}tars-kernel.elf`, modules: [PONG, client], accel: 'tcg', memoryMb: 256, icount: true }, dir);
    try {
      if (client.rust) {
        const m = await q.waitFor((e) => e.ev === 'metric' && e.name === 'ipc_rtt_cycles_avg', { timeoutMs: 120_000 });
        return Number(m.value);
      }
      const line = await q.waitFor((e) => e.ev === 'log' && e.source === 'client' && /^ipc \d+ calls \d+ us$/.test(String(e.msg)), { timeoutMs: 300_000 });
      const [, n, us] = /^ipc (\d+) calls (\d+) us$/.exec(line.msg);
      return (Number(us) * 1000) / Number(n);
    } finally {
      await q.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const modules = [
    { path: `${OUT}agents/pong.elf`, args: 'name=pong version=1.0.0 prio=2 serve=echo shm=tensor notify=ready' },
    { path: probe, args: 'name=cs version=1.0.0 abi=linux env=PROBE=idle' },
  ];

  async function once(icount) {
    const dir = mkdtempSync(join(work, 'q-'));
    const q = startQemu({ kernel: `${OUT}tars-kernel.elf`, modules, accel: 'tcg', memoryMb: 256, icount }, dir);
    try {
      const rust = await q.waitFor((e) => e.ev === 'log' && e.source === 'pong', { timeoutMs: 60_000 });
      const dotnet = await q.waitFor((e) => e.ev === 'log' && e.source === 'cs' && e.msg === 'idle', { timeoutMs: 120_000 });
      const c = await ProtocolClient.connect(q.paths.control);
      // Idle: the runtime's threads are all blocked; read what the agent holds.
      const cs = (await c.modules()).find((m) => m.name === 'cs');
      const pong = (await c.stats()).tasks.find((t) => t.name === 'pong');
      c.close();
      return { rustUs: rust.t_us, dotnetUs: dotnet.t_us, memKib: cs?.mem_kib ?? 0, threads: cs?.threads ?? 0, pongTask: pong?.id };
    } finally {
      await q.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }

  const tcg = [];
  for (let i = 0; i < RUNS; i++) tcg.push(await once(false));
  const ic = [];
  for (let i = 0; i < 3; i++) ic.push(await once(true));
  const ipcRust = await ipcRun({ path: `${OUT}agents/ping.elf`, args: 'name=ping version=1.0.0 prio=3 call=echo shm=tensor notify=ready', rust: true });
  const ipcC = await ipcRun({ path: cIpc, args: 'name=client version=1.0.0 prio=3 call=echo abi=linux' });
  const ipcDotnet = await ipcRun({ path: dotnetIpc, args: 'name=client version=1.0.0 prio=3 call=echo abi=linux' });
  const rust = median(tcg.map((r) => r.rustUs));
  const dotnet = median(tcg.map((r) => r.dotnetUs));
  const rustIc = median(ic.map((r) => r.rustUs));
  const dotnetIc = median(ic.map((r) => r.dotnetUs));
  const mem = median(tcg.map((r) => r.memKib));
  const exe = statSync(probe).size;
  const rustElf = statSync(`${OUT}agents/pong.elf`).size;
  console.log(`boot → hello, Rust pong (baseline), guest time      median ${(rust / 1000).toFixed(2)} ms`);
  console.log(`boot → hello, NativeAOT C# agent, guest time        median ${(dotnet / 1000).toFixed(2)} ms (${(dotnet / rust).toFixed(1)}x)`);
  console.log(`boot → hello, Rust pong, -icount                    median ${(rustIc / 1000).toFixed(2)} M instructions`);
  console.log(`boot → hello, NativeAOT C# agent, -icount           median ${(dotnetIc / 1000).toFixed(2)} M instructions (${(dotnetIc / rustIc).toFixed(1)}x)`);
  console.log(`IPC round trip to pong from Rust ping (baseline)     avg ${ipcRust.toFixed(0)} instructions (-icount)`);
  console.log(`IPC round trip to pong from C (libtars)             avg ${ipcC.toFixed(0)} instructions (${(ipcC / ipcRust).toFixed(2)}x)`);
  console.log(`IPC round trip to pong from NativeAOT C# (libtars)  avg ${ipcDotnet.toFixed(0)} instructions (${(ipcDotnet / ipcRust).toFixed(2)}x; goal ≤ 1.5x)`);
  console.log(`idle .NET agent: memory in use                      median ${mem} KiB = ${mem / 4} frames, ${median(tcg.map((r) => r.threads))} threads`);
  console.log(`binary size: C# agent ${(exe / 1048576).toFixed(2)} MiB vs Rust pong ${(rustElf / 1024).toFixed(1)} KiB (${(exe / rustElf).toFixed(0)}x)`);
  recordFigures('linux-agents', [
    { name: 'boot to .NET agent hello (guest)', value: dotnet / 1000, unit: 'ms', better: 'lower', baseline: { name: 'boot to Rust agent hello', value: rust / 1000 } },
    { name: 'boot to .NET agent hello (-icount)', value: dotnetIc * 1000, unit: 'instructions', better: 'lower', baseline: { name: 'boot to Rust agent hello (-icount)', value: rustIc * 1000 } },
    { name: 'IPC round trip .NET → Rust (-icount)', value: ipcDotnet, unit: 'instructions', better: 'lower', baseline: { name: 'IPC round trip Rust → Rust (-icount)', value: ipcRust } },
    { name: 'IPC round trip C (libtars) → Rust (-icount)', value: ipcC, unit: 'instructions', better: 'lower', baseline: { name: 'IPC round trip Rust → Rust (-icount)', value: ipcRust } },
    { name: 'idle .NET agent frames', value: mem / 4, unit: 'frames', better: 'lower' },
    { name: '.NET agent binary size', value: exe, unit: 'bytes', better: 'lower', baseline: { name: 'Rust agent binary size', value: rustElf } },
  ]);
} finally {
  rmSync(work, { recursive: true, force: true });
}
