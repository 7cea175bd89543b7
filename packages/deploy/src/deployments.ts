/**
 * Deployment records in `.tars/deployments/<id>/record.json`: one generic shape for every
 * deployer (the engine-specific part lives in `engine`), stamped with the project's identity.
 * Records of another project (a copy of this one, say) are never listed, pruned or stopped.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { projectIdentity, readJsonIfExists, sameProject, workspace, writeJsonAtomic, type ProjectIdentity } from '@tars/core';
import type { Accel, QemuSpec } from './qemu/args.js';

export interface DeploymentRecord<Engine = Record<string, unknown>> {
  id: string;
  /** The registry name of the deployer that owns it (`qemu`, `pxe`, `libvirt`). */
  deployer: string;
  project: ProjectIdentity;
  createdAt: string;
  accel: Accel;
  image: { dir: string; format: string; name: string; version: string; sha256: string };
  /** The deployment's own directory (sockets, event log, engine files). */
  runDir: string;
  /** Where the COM1 event stream (JSON lines) is read from: a file on this host. */
  events: string;
  /** The COM2 control socket (framed protocol). */
  control: string;
  /** Deployer-specific: qemu {pid, startTime, args, log}; libvirt {uri, domain, uuid}. */
  engine: Engine;
  /** Set for `os deploy --record`: the record/replay log, kept after the machine stops. */
  recording?: Recording;
  /** Persistent disks attached (`os deploy --disk`), in device order (blk0, blk1…). */
  disks?: AttachedDisk[];
}

export interface AttachedDisk {
  name: string;
  path: string;
  format: 'raw' | 'qcow2';
}

/** What `os replay` needs to play a recorded run back: the log and the machine that made it. */
export interface Recording {
  /** QEMU's record/replay log (`<runDir>/replay.bin`). */
  file: string;
  /** The QEMU spec of the recorded run (icount shift, machine, kernel, modules), sockets left out. */
  spec: QemuSpec;
  /** The files the guest booted from, hashed when recording: a replay needs the same bytes. */
  inputs: Array<{ path: string; sha256: string }>;
  /** When the machine stopped (the log is complete); absent while it records. */
  stoppedAt?: string;
}

export function deploymentsDir(root: string): string {
  return workspace(root).deployments;
}

export function deploymentDir(root: string, id: string): string {
  return join(deploymentsDir(root), id);
}

export function newDeploymentId(): string {
  return `tars-${randomBytes(3).toString('hex')}`;
}

export function saveDeployment(root: string, rec: DeploymentRecord<unknown>): void {
  writeJsonAtomic(join(deploymentDir(root, rec.id), 'record.json'), rec);
}

export function removeDeployment(root: string, id: string): void {
  rmSync(deploymentDir(root, id), { recursive: true, force: true });
}

/** This project's records (sorted by id); another project's are skipped, untouched. */
export function readDeployments(root: string): DeploymentRecord[] {
  const dir = deploymentsDir(root);
  if (!existsSync(dir)) return [];
  const me = projectIdentity(root);
  const out: DeploymentRecord[] = [];
  for (const id of readdirSync(dir).sort()) {
    let rec: DeploymentRecord | undefined;
    try {
      rec = readJsonIfExists<DeploymentRecord>(join(dir, id, 'record.json'));
    } catch {
      continue;
    }
    if (rec && sameProject(me, rec.project)) out.push(rec);
  }
  return out;
}
