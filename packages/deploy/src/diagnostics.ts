/** `os diagnostics`: the kernel's live view through the control channel, plus host-side checks. */
import { statSync } from 'node:fs';
import type { DeploymentRecord } from './deployments.js';
import { deployerOf } from './deployers.js';
import type { ProtocolClient } from './protocol/client.js';
import type { KernelStats, LogResult, ModuleInfo, PingResult } from './protocol/types.js';

export interface DiagnosticsReport {
  deployment: { id: string; deployer: string; engine: string; accel: string; image: DeploymentRecord['image'] };
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
  const deployer = deployerOf(rec);
  const c = client ?? (await deployer.control(rec));
  try {
    const t0 = performance.now();
    const kernel = await c.ping();
    const controlRttMs = performance.now() - t0;
    const stats = await c.stats();
    const modules = await c.modules();
    const log = await c.log();
    let eventsBytes = 0;
    try {
      eventsBytes = statSync(deployer.events(rec)).size;
    } catch {
      // no events yet
    }
    return {
      deployment: { id: rec.id, deployer: rec.deployer, engine: deployer.describe(rec), accel: rec.accel, image: rec.image },
      host: { qemuAlive: await deployer.alive(rec), accel: rec.accel, eventsBytes },
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
