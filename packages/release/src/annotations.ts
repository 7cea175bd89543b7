/**
 * Compiler diagnostics (cargo/rustc, nvcc, dotnet/MSBuild) turned into GitHub Actions workflow
 * commands (`::error file=…,line=…,col=…::message`), so failures show on the pull request's diff.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';

export interface Diagnostic {
  tool: 'rustc' | 'nvcc' | 'dotnet';
  level: 'error' | 'warning';
  file: string;
  line: number;
  col?: number;
  code?: string;
  message: string;
}

const RUSTC_HEAD = /^(error|warning)(?:\[(E\d+)\])?: (.+)$/;
const RUSTC_LOC = /^\s*--> (.+?):(\d+):(\d+)$/;
const NVCC = /^(.+?\.(?:cu|cuh|h|hpp|cpp|c))\((\d+)\): (error|warning)(?: #?(\w+-?\w*))?: (.+)$/;
const MSBUILD = /^(.+?)\((\d+),(\d+)\): (error|warning) ([A-Z]+\d+): (.+?)(?: \[.+\])?$/;

export function parseDiagnostics(text: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  const push = (d: Diagnostic) => {
    const key = `${d.tool}|${d.file}|${d.line}|${d.col}|${d.message}`;
    if (seen.has(key)) return; // MSBuild repeats every diagnostic in its summary
    seen.add(key);
    out.push(d);
  };
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const r = RUSTC_HEAD.exec(line);
    if (r) {
      const loc = RUSTC_LOC.exec(lines[i + 1] ?? '');
      if (loc) {
        push({ tool: 'rustc', level: r[1] as 'error' | 'warning', file: loc[1] as string, line: Number(loc[2]), col: Number(loc[3]), ...(r[2] ? { code: r[2] } : {}), message: r[3] as string });
      }
      continue;
    }
    const n = NVCC.exec(line);
    if (n) {
      push({ tool: 'nvcc', level: n[3] as 'error' | 'warning', file: n[1] as string, line: Number(n[2]), ...(n[4] ? { code: n[4] } : {}), message: n[5] as string });
      continue;
    }
    const m = MSBUILD.exec(line.trim());
    if (m) push({ tool: 'dotnet', level: m[4] as 'error' | 'warning', file: m[1] as string, line: Number(m[2]), col: Number(m[3]), code: m[5] as string, message: m[6] as string });
  }
  return out;
}

/** Make a diagnostic's path relative to the repository: container paths (/workspace/…) and
 * absolute host paths are rebased; a path relative to a build directory is looked up under
 * `searchDirs`. */
export function resolveDiagnosticPath(file: string, root: string, searchDirs: string[] = []): string {
  let p = file;
  if (p.startsWith('/workspace/')) p = p.slice('/workspace/'.length);
  else if (isAbsolute(p)) {
    const rel = relative(root, p);
    if (!rel.startsWith('..')) p = rel;
    else {
      const m = /\/(packages\/.+)$/.exec(p);
      if (m) p = m[1] as string;
    }
  }
  if (!isAbsolute(p) && !existsSync(join(root, p))) {
    for (const d of searchDirs) if (existsSync(join(root, d, p))) return join(d, p);
  }
  return p;
}

const escData = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
const escProp = (s: string) => escData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');

export function workflowCommand(d: Diagnostic): string {
  const props = [`file=${escProp(d.file)}`, `line=${d.line}`, ...(d.col ? [`col=${d.col}`] : []), `title=${escProp(`${d.tool}${d.code ? ` ${d.code}` : ''}`)}`];
  return `::${d.level} ${props.join(',')}::${escData(d.message)}`;
}

export function isGitHubActions(env: NodeJS.ProcessEnv = process.env): boolean {
  return env['GITHUB_ACTIONS'] === 'true';
}
