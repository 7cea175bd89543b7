/**
 * Following a running deployment (`os logs -f`, `os console`, `os diagnostics --watch`, an
 * attached `os deploy`): one loop that calls the command's `tick` until Ctrl-C (a normal end) or
 * until the machine goes away, which is an error naming why (it exited, or `os stop` ran
 * elsewhere) — never a silent exit 0.
 */
import { sleep } from '@tars/core';
import { deployerOf, deploymentGone, stopDeployment } from './deployers.js';
import type { DeploymentRecord } from './deployments.js';
import type { KernelEvent } from './protocol/types.js';
import { EventReader } from './qemu/instance.js';

export interface FollowOptions {
  signal: AbortSignal;
  /** Called every `intervalMs` and once more when the machine is gone: print what is new. */
  tick: () => void | Promise<void>;
  intervalMs?: number;
  /** How often liveness is checked (a libvirt check is a virsh call). Default 1000 ms. */
  aliveEveryMs?: number;
}

/**
 * Call `tick` until the signal aborts (resolves) or the machine stops (rejects with the same
 * NOT_FOUND error a command started on a stopped deployment gives).
 */
export async function followDeployment(root: string, rec: DeploymentRecord, opts: FollowOptions): Promise<void> {
  const deployer = deployerOf(rec);
  const interval = opts.intervalMs ?? 100;
  const aliveEvery = opts.aliveEveryMs ?? 1000;
  let lastCheck = 0;
  while (!opts.signal.aborted) {
    await opts.tick();
    if (Date.now() - lastCheck >= aliveEvery) {
      lastCheck = Date.now();
      if (!(await deployer.alive(rec))) {
        await opts.tick(); // the last lines it wrote before it went
        throw await deploymentGone(root, rec);
      }
    }
    await sleep(interval, opts.signal);
  }
}

/**
 * `os deploy` without --detach: stream the first machine's kernel events until Ctrl-C, then stop
 * every machine of the deployment and remove their records. A machine that stops by itself (or
 * is stopped elsewhere) is reported as an error once the others are stopped.
 */
export async function followThenStop(root: string, records: DeploymentRecord[], opts: { signal: AbortSignal; onEvent: (e: KernelEvent) => void }): Promise<void> {
  const [first] = records;
  if (!first) return;
  const reader = new EventReader(deployerOf(first).events(first));
  reader.poll(); // what led up to `ready` was shown already
  let gone: unknown;
  try {
    await followDeployment(root, first, { signal: opts.signal, tick: () => reader.poll().forEach(opts.onEvent) });
  } catch (err) {
    gone = err;
  }
  for (const r of records) await stopDeployment(root, r);
  if (gone) throw gone;
}
