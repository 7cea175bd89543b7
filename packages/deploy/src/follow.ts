/**
 * `os deploy` without --detach: stream the first machine's kernel events until Ctrl-C (the
 * signal) or until the machine stops by itself, then stop every machine of the deployment and
 * remove their records.
 */
import { deployerOf, stopDeployment } from './deployers.js';
import type { DeploymentRecord } from './deployments.js';
import type { KernelEvent } from './protocol/types.js';
import { EventReader } from './qemu/instance.js';

export async function followThenStop(root: string, records: DeploymentRecord[], opts: { signal: AbortSignal; onEvent: (e: KernelEvent) => void }): Promise<void> {
  const [first] = records;
  if (!first) return;
  const deployer = deployerOf(first);
  const reader = new EventReader(deployer.events(first));
  reader.poll(); // what led up to `ready` was shown already
  let lastCheck = Date.now();
  while (!opts.signal.aborted) {
    reader.poll().forEach(opts.onEvent);
    // Liveness costs a process check (libvirt: a virsh call): once a second is enough.
    if (Date.now() - lastCheck >= 1000) {
      lastCheck = Date.now();
      if (!(await deployer.alive(first))) break;
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 100);
      opts.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    });
  }
  for (const r of records) await stopDeployment(root, r);
}
