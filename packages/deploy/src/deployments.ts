/**
 * Deployment records in `.tars/deployments/<id>/record.json`: what runs where (pid, sockets,
 * image sha256). A record whose QEMU is gone is detected and cleaned up.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AbortError, processAlive, readJsonIfExists, writeJsonAtomic } from '@tars/core';

export interface DeploymentRecord {
  id: string;
  target: 'qemu' | 'pxe';
  pid: number;
  createdAt: string;
  runDir: string;
  events: string;
  control: string;
  qemuLog: string;
  accel: 'kvm' | 'tcg';
  image: { dir: string; format: string; name: string; version: string; sha256: string };
  qemuArgs: string[];
}

export function deploymentsDir(root: string): string {
  return join(root, '.tars', 'deployments');
}

export function newDeploymentId(): string {
  return `tars-${randomBytes(3).toString('hex')}`;
}

export function saveDeployment(root: string, rec: DeploymentRecord): void {
  writeJsonAtomic(join(deploymentsDir(root), rec.id, 'record.json'), rec);
}

/** Whether the record's QEMU still runs (and the pid was not reused by something else). */
export function isAlive(rec: DeploymentRecord): boolean {
  if (!processAlive(rec.pid)) return false;
  try {
    return readFileSync(`/proc/${rec.pid}/cmdline`, 'utf8').includes(rec.events);
  } catch {
    return false;
  }
}

export function removeDeployment(root: string, id: string): void {
  rmSync(join(deploymentsDir(root), id), { recursive: true, force: true });
}

export interface ListedDeployment {
  record: DeploymentRecord;
  alive: boolean;
}

/** All records; dead ones are removed when `prune` (their state is reported once). */
export function listDeployments(root: string, prune = true): ListedDeployment[] {
  const dir = deploymentsDir(root);
  if (!existsSync(dir)) return [];
  const out: ListedDeployment[] = [];
  for (const id of readdirSync(dir).sort()) {
    const rec = readJsonIfExists<DeploymentRecord>(join(dir, id, 'record.json'));
    if (!rec) continue;
    const alive = isAlive(rec);
    if (!alive && prune) removeDeployment(root, id);
    out.push({ record: rec, alive });
  }
  return out;
}

/** Find a running deployment by id (or the only one when `id` is omitted). */
export function getDeployment(root: string, id: string | undefined): DeploymentRecord {
  const all = listDeployments(root, false);
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
    throw new AbortError(`No deployment ${id}`, { code: 'NOT_FOUND', tryMessage: '`tarscli os ps` lists the deployments.' });
  }
  if (!found.alive) {
    removeDeployment(root, id);
    throw new AbortError(`Deployment ${id} is no longer running (its QEMU exited); the record was removed`, {
      code: 'NOT_FOUND',
      tryMessage: `Its last events are in ${found.record.events} until the next deploy.`,
    });
  }
  return found.record;
}
