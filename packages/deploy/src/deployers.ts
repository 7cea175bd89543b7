/**
 * The deployer registry: `--to NAME` → Deployer. Adding a deploy target is one file
 * implementing `Deployer` plus one line here.
 */
import { AbortError } from '@tars/core';
import type { Deployer } from './deployer.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { deploymentDir, readDeployments, removeDeployment, saveDeployment, type DeploymentRecord } from './deployments.js';
import { libvirtDeployer } from './libvirt-deployer.js';
import { metalDeployer } from './metal.js';
import { pxeDeployer, qemuDeployer } from './qemu-deployer.js';
import type { ProtocolClient } from './protocol/client.js';

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

/** Run `fn` with `client`, or with a control client opened on the deployment and closed after. */
export async function withControl<T>(rec: DeploymentRecord, client: ProtocolClient | undefined, fn: (c: ProtocolClient) => Promise<T>): Promise<T> {
  const c = client ?? (await deployerOf(rec).control(rec));
  try {
    return await fn(c);
  } finally {
    if (!client) c.close();
  }
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
  retire(root, rec);
}

/**
 * A stopped machine's record goes, unless it was recorded: then it stays, marked stopped, with
 * its run directory (the log `os replay` plays back) until `os stop` is asked again.
 */
function retire(root: string, rec: DeploymentRecord): void {
  if (!rec.recording) {
    removeDeployment(root, rec.id);
    return;
  }
  if (!rec.recording.stoppedAt) {
    rec.recording.stoppedAt = new Date().toISOString();
    if (existsSync(join(deploymentDir(root, rec.id), 'record.json'))) saveDeployment(root, rec);
  }
}

/** A recorded deployment whose machine has stopped: only its recording is left. */
export function isStoppedRecording(rec: DeploymentRecord): boolean {
  return rec.recording?.stoppedAt !== undefined;
}

export interface PickOptions {
  /** The command the user ran (`os logs`, `os diagnostics`): the error suggests it again with an id. */
  command?: string;
  /** Also return a recorded deployment whose machine has stopped (`os replay`, `os stop`). */
  stoppedRecordings?: boolean;
}

/**
 * The one way a command picks its deployment: by id, or the only running one when `id` is
 * omitted. Several running: an error that lists them and suggests the same command with an id.
 */
export async function getDeployment(root: string, id: string | undefined, opts: PickOptions = {}): Promise<DeploymentRecord> {
  const all = await listDeployments(root, false);
  const command = opts.command ?? 'os diagnostics';
  if (!id) {
    const alive = all.filter((d) => d.alive);
    if (alive.length === 1) return (alive[0] as ListedDeployment).record;
    const ids = alive.map((d) => d.record.id);
    throw new AbortError(alive.length === 0 ? 'No deployment is running' : `Several deployments run: ${ids.join(', ')}`, {
      code: 'NOT_FOUND',
      tryMessage: alive.length === 0 ? 'Start one with `tarscli os deploy --to qemu --detach`.' : `Name one: \`tarscli ${command} ${ids[0]}\`.`,
    });
  }
  const found = all.find((d) => d.record.id === id);
  if (!found) {
    throw new AbortError(`No deployment ${id}`, { code: 'NOT_FOUND', tryMessage: '`tarscli os ps` lists the deployments of this project.' });
  }
  if (!found.alive) {
    if (opts.stoppedRecordings && found.record.recording) {
      retire(root, found.record);
      return found.record;
    }
    throw await deploymentGone(root, found.record);
  }
  return found.record;
}

/**
 * The error for a deployment whose machine is gone (it exited, or `os stop` ran elsewhere), the
 * same whether a command found it so at its start or while following it. Removes what is left.
 */
export async function deploymentGone(root: string, rec: DeploymentRecord): Promise<AbortError> {
  if (!existsSync(join(deploymentDir(root, rec.id), 'record.json'))) {
    return new AbortError(`Deployment ${rec.id} was stopped (its record was removed, by \`tarscli os stop\` or an attached \`os deploy\` ending)`, {
      code: 'NOT_FOUND',
      tryMessage: '`tarscli os ps` lists the deployments that still run.',
    });
  }
  await forget(root, rec);
  if (rec.recording) {
    return new AbortError(`Deployment ${rec.id} is no longer running; its recording is kept`, {
      code: 'NOT_FOUND',
      tryMessage: `\`tarscli os replay ${rec.id}\` plays it back; \`tarscli os stop ${rec.id}\` removes it.`,
    });
  }
  return new AbortError(`Deployment ${rec.id} is no longer running (its machine exited); the record was removed`, {
    code: 'NOT_FOUND',
    tryMessage: `Its last events were in ${rec.events}; \`tarscli os deploy\` starts a new one.`,
  });
}

/**
 * Stop a deployment through its deployer and remove its record; a recorded one keeps its record
 * and recording (stopped), and asked again, removes them.
 */
export async function stopDeployment(root: string, rec: DeploymentRecord): Promise<'stopped' | 'already-stopped' | 'stopped, recording kept' | 'recording removed'> {
  if (isStoppedRecording(rec)) {
    removeDeployment(root, rec.id);
    return 'recording removed';
  }
  const result = await deployerOf(rec).stop(rec);
  retire(root, rec);
  return rec.recording ? 'stopped, recording kept' : result;
}
