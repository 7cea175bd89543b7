/**
 * `os support`: everything a maintainer asks for when something goes wrong, as one archive —
 * the config (the file as written and the resolved values), every image manifest, tarscli's logs,
 * each deployment's record, kernel events, QEMU log and live diagnostics, and the doctor report.
 * What cannot be collected is listed in the bundle's index instead of failing the command.
 */
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { ExternalError, IMAGE_FORMATS, runCommand, runDoctor, type LoadedConfig } from '@tars/core';
import { deployerOf, listDeployments } from './deployers.js';
import { workspace } from '@tars/core';
import { collectDiagnostics } from './diagnostics.js';

export interface SupportOptions {
  loaded: LoadedConfig;
  /** The archive to write (.tar.gz). */
  output: string;
  /** The running tarscli's version (and its git revision when known): the first thing a bug report needs. */
  tarscli: { version: string; revision?: string };
  signal?: AbortSignal;
}

export interface SupportResult {
  archive: string;
  size: number;
  files: string[];
  missing: { what: string; why: string }[];
}

export async function collectSupportBundle(opts: SupportOptions): Promise<SupportResult> {
  const { config, root, filepath } = opts.loaded;
  const stage = mkdtempSync(join(tmpdir(), 'tars-support-'));
  const top = join(stage, 'tars-support');
  const missing: SupportResult['missing'] = [];
  const json = (rel: string, value: unknown) => {
    mkdirSync(dirname(join(top, rel)), { recursive: true });
    writeFileSync(join(top, rel), `${JSON.stringify(value, null, 2)}\n`);
  };
  const copy = (from: string, rel: string) => {
    if (!existsSync(from)) return missing.push({ what: rel, why: `${from} does not exist` });
    mkdirSync(dirname(join(top, rel)), { recursive: true });
    if (statSync(from).isDirectory()) cpSync(from, join(top, rel), { recursive: true });
    else copyFileSync(from, join(top, rel));
    return undefined;
  };
  try {
    mkdirSync(top, { recursive: true });
    if (filepath) copy(filepath, join('config', basename(filepath)));
    json('config/resolved.json', config);
    for (const format of IMAGE_FORMATS) {
      const m = resolve(root, config.image.outDir, format, 'manifest.json');
      if (existsSync(m)) copy(m, `manifests/${format}/manifest.json`);
    }
    copy(workspace(root).logs, 'logs');
    for (const { record, alive } of await listDeployments(root, false)) {
      const base = `deployments/${record.id}`;
      json(`${base}/record.json`, { ...record, alive });
      const events = deployerOf(record).events(record);
      copy(events, `${base}/${basename(events)}`);
      // The machine's own log (QEMU's stderr, or libvirt's domain log), where the engine has one.
      const log = (record.engine as { log?: unknown }).log;
      if (typeof log === 'string') copy(log, `${base}/${basename(log)}`);
      if (!alive) continue;
      try {
        json(`${base}/diagnostics.json`, await collectDiagnostics(record));
      } catch (err) {
        missing.push({ what: `${base}/diagnostics.json`, why: err instanceof Error ? err.message : String(err) });
      }
    }
    json('doctor.json', await runDoctor({ config, root }));
    json('index.json', { createdAt: new Date().toISOString(), tarscli: opts.tarscli, root, node: process.version, platform: `${process.platform} ${process.arch}`, missing });
    const archive = resolve(opts.output);
    mkdirSync(dirname(archive), { recursive: true });
    const r = await runCommand('tar', ['-czf', archive, '-C', stage, 'tars-support'], { reject: false, ...(opts.signal ? { signal: opts.signal } : {}) });
    if (r.exitCode !== 0) throw new ExternalError(`tar could not write ${archive}`, { command: r.command, exitCode: r.exitCode, stderrTail: r.stderr.split('\n').slice(-5) });
    const files = walk(top).map((f) => relative(stage, f));
    return { archive, size: statSync(archive).size, files, missing };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}
