/**
 * The deployer registry: `--to NAME` → Deployer. Adding a deploy target is one file
 * implementing `Deployer` plus one line here.
 */
import { AbortError } from '@tars/core';
import type { Deployer } from './deployer.js';
import { readDeployments, removeDeployment, type DeploymentRecord } from './deployments.js';
import { libvirtDeployer } from './libvirt-deployer.js';
import { metalDeployer } from './metal.js';
import { pxeDeployer, qemuDeployer } from './qemu-deployer.js';

export const DEPLOYERS: Record<string, Deployer> = {
  qemu: qemuDeployer,
  pxe: pxeDeployer,
  libvirt: libvirtDeployer,
  metal: metalDeployer,
};

export const DEPLOYER_NAMES = Object.keys(DEPLOYERS);

export function getDeployer(name: string): Deployer {
  const d = DEPLOYERS[name];
  if (!d) throw new AbortError(`No deployer named ${name}`, { code: 'USAGE', tryMessage: `Known: ${DEPLOYER_NAMES.join(', ')}` });
  return d;
}

/** The deployer that owns a record. */
export function deployerOf(rec: DeploymentRecord): Deployer {
  return getDeployer(rec.deployer);
}

export interface ListedDeployment {
  record: DeploymentRecord;
  alive: boolean;
}

/** This project's deployments; dead ones are cleaned up (engine and record) when `prune`. */
export async function listDeployments(root: string, prune = true): Promise<ListedDeployment[]> {
  const out: ListedDeployment[] = [];
  for (const rec of readDeployments(root)) {
    const d = DEPLOYERS[rec.deployer];
    const alive = d ? await d.alive(rec) : false;
    if (!alive && prune) await forget(root, rec);
    out.push({ record: rec, alive });
  }
  return out;
}

async function forget(root: string, rec: DeploymentRecord): Promise<void> {
  const d = DEPLOYERS[rec.deployer];
  // A machine that stopped on its own may still be known to its engine (a defined domain).
  if (d) await d.stop(rec);
  removeDeployment(root, rec.id);
}

/** A running deployment of this project by id (or the only one when `id` is omitted). */
export async function getDeployment(root: string, id: string | undefined): Promise<DeploymentRecord> {
  const all = await listDeployments(root, false);
  if (!id) {
    const alive = all.filter((d) => d.alive);
    if (alive.length === 1) return (alive[0] as ListedDeployment).record;
    throw new AbortError(alive.length === 0 ? 'No deployment is running' : `Several deployments run: ${alive.map((d) => d.record.id).join(', ')}`, {
      code: 'NOT_FOUND',
      tryMessage: alive.length === 0 ? 'Start one with `tarscli os deploy --to qemu --detach`.' : 'Name one: `tarscli os diagnostics ID`.',
    });
  }
  const found = all.find((d) => d.record.id === id);
  if (!found) {
    throw new AbortError(`No deployment ${id}`, { code: 'NOT_FOUND', tryMessage: '`tarscli os ps` lists the deployments of this project.' });
  }
  if (!found.alive) {
    await forget(root, found.record);
    throw new AbortError(`Deployment ${id} is no longer running (its machine exited); the record was removed`, {
      code: 'NOT_FOUND',
      tryMessage: `Its last events are in ${found.record.events} until the next deploy.`,
    });
  }
  return found.record;
}

/** Stop a deployment through its deployer and remove its record. */
export async function stopDeployment(root: string, rec: DeploymentRecord): Promise<'stopped' | 'already-stopped'> {
  const result = await deployerOf(rec).stop(rec);
  removeDeployment(root, rec.id);
  return result;
}
