/** `os diagnostics`: the kernel's live view through the control channel, plus host-side checks. */
import { statSync } from 'node:fs';
import type { DeploymentRecord } from './deployments.js';
import { deployerOf } from './deployers.js';
import type { ProtocolClient } from './protocol/client.js';
import type { FaultRecord, KernelStats, LogResult, ModuleInfo, PingResult } from './protocol/types.js';
import { EventReader } from './qemu/instance.js';
import { listAllTasks } from './lifecycle.js';
import { symbolizerForImage, type SymbolizedFrame } from './symbolize.js';

const EXCEPTIONS = ['divide_error', 'debug', 'nmi', 'breakpoint', 'overflow', 'bound_range', 'invalid_opcode', 'device_not_available', 'double_fault', 'coprocessor_overrun', 'invalid_tss', 'segment_not_present', 'stack_fault', 'general_protection', 'page_fault'];
const SIGNALS: Record<number, string> = { 4: 'SIGILL', 5: 'SIGTRAP', 6: 'SIGABRT', 7: 'SIGBUS', 8: 'SIGFPE', 9: 'SIGKILL', 11: 'SIGSEGV', 13: 'SIGPIPE', 15: 'SIGTERM' };

/**
 * What a fault record's vector means: a CPU exception (0–31), a Linux process ended by a signal
 * (0x100 + signal number) or stopped at its memory limit (0x200), as the kernel numbers them.
 */
export function faultLabel(vector: number): string {
  if (vector === 0x200) return 'out_of_memory';
  if (vector > 0x100 && vector < 0x100 + 65) return SIGNALS[vector - 0x100] ?? `signal ${vector - 0x100}`;
  return EXCEPTIONS[vector] ?? `vector ${vector}`;
}

export interface SymbolizedFault extends FaultRecord {
  /** rip first, then the stack snapshot: `agent+offset`, function and `file:line`. */
  frames: SymbolizedFrame[];
}

export interface DiagnosticsReport {
  deployment: { id: string; deployer: string; engine: string; accel: string; image: DeploymentRecord['image'] };
  host: { qemuAlive: boolean; accel: string; eventsBytes: number };
  kernel: PingResult;
  stats: KernelStats;
  modules: ModuleInfo[];
  log: LogResult['lines'];
  /** The kernel's recent faults, symbolized with the image's debug files. */
  faults: SymbolizedFault[];
  /** Per module: fault policy, restarts and the last fault (symbolized). */
  supervision: { module: string; state: string; policy: string; restarts: number; lastFault?: SymbolizedFault }[];
  /** Round trip of one `ping` over the control channel, host-measured. */
  controlRttMs: number;
  /** Connecting to the control channel and every request of this report (what the kernel's side costs a command). */
  controlMs: number;
}

export async function collectDiagnostics(rec: DeploymentRecord, client?: ProtocolClient): Promise<DiagnosticsReport> {
  const own = !client;
  const deployer = deployerOf(rec);
  const connectAt = performance.now();
  const c = client ?? (await deployer.control(rec));
  try {
    const t0 = performance.now();
    const kernel = await c.ping();
    const controlRttMs = performance.now() - t0;
    const stats = await c.stats();
    // `stats` lists the first 32 tasks; with more, the rest are paged in so the report has them all.
    const all = await listAllTasks(c, stats);
    stats.tasks = all.tasks;
    stats.task_count = all.total;
    const modules = await c.modules();
    const log = await c.log();
    const controlMs = performance.now() - connectAt;
    let eventsBytes = 0;
    try {
      eventsBytes = statSync(deployer.events(rec)).size;
    } catch {
      // no events yet
    }
    // Faults as `agent+offset  function (file:line)`, from the debug files beside the image. The
    // event stream (for hot-swaps) is read only when there is a fault to symbolize: --watch calls
    // this every second.
    const sym = symbolizerForImage(rec.image.dir);
    if ((stats.faults ?? []).length > 0 || modules.some((m) => m.last_fault)) {
      try {
        sym.learn(new EventReader(deployer.events(rec)).poll());
      } catch {
        // no event stream (yet): the sha256 the kernel reports decides alone
      }
    }
    const faults = await Promise.all((stats.faults ?? []).map(async (f) => ({ ...f, frames: await sym.fault(f) })));
    const supervision = await Promise.all(
      modules.map(async (m) => ({
        module: m.name,
        state: m.state,
        policy: m.fault_policy ?? 'stop',
        restarts: m.restarts ?? 0,
        ...(m.last_fault ? { lastFault: { ...m.last_fault, frames: await sym.fault({ ...m.last_fault, module: m.name }) } } : {}),
      })),
    );
    return {
      deployment: { id: rec.id, deployer: rec.deployer, engine: deployer.describe(rec), accel: rec.accel, image: rec.image },
      host: { qemuAlive: await deployer.alive(rec), accel: rec.accel, eventsBytes },
      kernel,
      stats,
      modules,
      log: log.lines,
      faults,
      supervision,
      controlRttMs: Math.round(controlRttMs * 1000) / 1000,
      controlMs: Math.round(controlMs * 1000) / 1000,
    };
  } finally {
    if (own) c.close();
  }
}
