/**
 * The `.tars` workspace of a project: the one place that knows its layout, and the project's
 * identity that scopes deployments to it.
 *
 * The identity is the realpath of the project root plus a random id kept in
 * `.tars/project.json`. A copy of the project (`cp -r`, `.tars` included) carries the file
 * along, but its root differs: the copy gets a fresh id, so it never sees, nor stops, the
 * machines of the project it was copied from.
 */
import { mkdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { readJsonIfExists, writeJsonAtomic } from './fs.js';

export const WORKSPACE_DIR = '.tars';

export interface WorkspacePaths {
  /** `.tars` itself. */
  dir: string;
  /** One directory per deployment: `<id>/record.json`, sockets, event logs. */
  deployments: string;
  /** Persistent disk images (`os disk create`), attached with `os deploy --disk NAME`. */
  disks: string;
  /** Default component cache (the config's `cache.dir` can move it). */
  cache: string;
  logs: string;
  buildLogs: string;
  /** NuGet packages fetched on the host for offline .NET publishes. */
  nuget: string;
  tmp: string;
  toolchains: string;
  project: string;
}

export function workspace(root: string): WorkspacePaths {
  const dir = join(root, WORKSPACE_DIR);
  return {
    dir,
    deployments: join(dir, 'deployments'),
    disks: join(dir, 'disks'),
    cache: join(dir, 'cache'),
    logs: join(dir, 'logs'),
    buildLogs: join(dir, 'logs', 'build'),
    nuget: join(dir, 'nuget'),
    tmp: join(dir, 'tmp'),
    toolchains: join(dir, 'toolchains.json'),
    project: join(dir, 'project.json'),
  };
}

export interface ProjectIdentity {
  /** Random, 8 hex digits; part of libvirt domain names. */
  id: string;
  /** realpath of the project root. */
  root: string;
}

/** The project's identity, created on first use (and renewed in a copy of the project). */
export function projectIdentity(root: string): ProjectIdentity {
  const real = realpathSync(root);
  const path = workspace(root).project;
  const stored = readJsonIfExists<Partial<ProjectIdentity>>(path);
  if (stored?.id && stored.root === real) return { id: stored.id, root: real };
  const fresh = { id: randomBytes(4).toString('hex'), root: real };
  mkdirSync(workspace(root).dir, { recursive: true });
  writeJsonAtomic(path, fresh);
  return fresh;
}

/** Whether `other` is this project (both the root and the id must match). */
export function sameProject(a: ProjectIdentity, other: Partial<ProjectIdentity> | undefined): boolean {
  return !!other && other.id === a.id && other.root === a.root;
}
