/** `os diagnostics`: the kernel's live view through the control channel, plus host-side checks. */
import { statSync } from 'node:fs';
import { isAlive, type DeploymentRecord } from './deployments.js';
import { ProtocolClient } from './protocol/client.js';
import { symbolizerForImage } from './symbolize.js';
import { EventReader } from './qemu/instance.js';
import type { KernelStats, LogResult, ModuleInfo, PingResult } from './protocol/types.js';

export interface DiagnosticsReport {
  deployment: { id: string; pid: number; accel: string; image: DeploymentRecord['image'] };
  host: { qemuAlive: boolean; accel: string; eventsBytes: number };
  kernel: PingResult;
  stats: KernelStats;
  modules: ModuleInfo[];
  log: LogResult['lines'];
  /** Round trip of one `ping` over the control channel, host-measured. */
  controlRttMs: number;
}

export async function collectDiagnostics(rec: DeploymentRecord, client?: ProtocolClient): Promise<DiagnosticsReport> {
  const own = !client;
  const c = client ?? (await ProtocolClient.connect(rec.control));
  try {
    const t0 = performance.now();
    const kernel = await c.ping();
    const controlRttMs = performance.now() - t0;
    const stats = await c.stats();
    // Faults as `agent+offset  function (file:line)`, from the debug files beside the image.
    if (stats.faults?.length) {
      const sym = symbolizerForImage(rec.image.dir);
      sym.learn(new EventReader(rec.events).poll());
      for (const f of stats.faults) f.frames = await sym.fault(f);
    }
    const modules = await c.modules();
    const log = await c.log();
    let eventsBytes = 0;
    try {
      eventsBytes = statSync(rec.events).size;
    } catch {
      // no events yet
    }
    return {
      deployment: { id: rec.id, pid: rec.pid, accel: rec.accel, image: rec.image },
      host: { qemuAlive: isAlive(rec), accel: rec.accel, eventsBytes },
      kernel,
      stats,
      modules,
      log: log.lines,
      controlRttMs: Math.round(controlRttMs * 1000) / 1000,
    };
  } finally {
    if (own) c.close();
  }
}
