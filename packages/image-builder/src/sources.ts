/**
 * Every path the config names, checked against the project before any step runs (`os build`,
 * its `--dry-run`, `update-kernel`): a missing or wrong source is the user's config mistake
 * (CONFIG_INVALID, exit 3, naming the key), never a failed step or a bug in tarscli.
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { AbortError, type Check, type TarsConfig } from '@tars/core';
import { readCargoMembers } from './cargo-members.js';
import { contains } from './output-dir.js';
import { collectFileTree } from './file-tree.js';

export interface SourceIssue {
  /** Dotted config key, e.g. `agents.0.path`. */
  key: string;
  message: string;
  got: string;
}

const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();
const isFile = (p: string) => existsSync(p) && statSync(p).isFile();

/** A kernel workspace manifest is a few hundred bytes; a bigger one is not read (nor held in memory). */
const MAX_MANIFEST_BYTES = 1 << 20;

/** Whether the regular file `p` starts with the ELF magic; the error's code when it cannot be read. */
function startsWithElfMagic(p: string): boolean | string {
  let fd: number;
  try {
    fd = openSync(p, 'r');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
  try {
    const b = Buffer.alloc(4);
    return readSync(fd, b, 0, 4, 0) === 4 && b.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } finally {
    closeSync(fd);
  }
}

/** Where `abs` really is when a symlink on the way takes it out of the project `realRoot`. */
function escapesProject(realRoot: string, abs: string): string | undefined {
  if (!existsSync(abs)) return undefined;
  const real = realpathSync(abs);
  return contains(realRoot, real) ? undefined : real;
}

/** The `members` of a Cargo workspace manifest (the list tarscli itself writes). */
export function cargoWorkspaceMembers(cargoToml: string): string[] {
  return (readCargoMembers(readFileSync(cargoToml, 'utf8')) ?? []).map((x) => posix.normalize(`${x}/`).replace(/\/$/, ''));
}

/** The crate directory of a Rust agent relative to the kernel workspace, or undefined when outside it. */
export function agentCrateDir(config: TarsConfig, agentPath: string): string | undefined {
  const rel = posix.relative(posix.normalize(config.kernel.path), posix.normalize(agentPath));
  return rel === '' || rel.startsWith('..') || posix.isAbsolute(rel) ? undefined : rel;
}

/** What is wrong with the sources the config names under `root` (nothing: an empty list). */
export function findSourceIssues(config: TarsConfig, root: string): SourceIssue[] {
  const issues: SourceIssue[] = [];
  const add = (key: string, message: string, got: string) => issues.push({ key, message, got });
  // A build sees the project only (the builder container mounts it, the cache hashes it): a path
  // that leaves it, through a symlink or as written for kernel/dotnet, is a config mistake.
  const realRoot = realpathSync(root);
  const outside = (key: string, got: string, abs: string) => {
    const real = escapesProject(realRoot, abs);
    if (real !== undefined) add(key, `leads outside the project (to ${real}); a build sees only the project's files`, got);
    return real !== undefined;
  };
  const kernel = join(root, config.kernel.path);
  const manifest = join(kernel, 'Cargo.toml');
  const kernelOutside = outside('kernel.path', config.kernel.path, kernel);
  const kernelOk = !kernelOutside && isFile(manifest) && statSync(manifest).size <= MAX_MANIFEST_BYTES;
  if (!kernelOutside) {
    const issue = !isDir(kernel)
      ? 'no such directory'
      : !isFile(manifest)
        ? 'not a kernel workspace: it has no Cargo.toml'
        : !kernelOk
          ? `not a kernel workspace: its Cargo.toml is ${statSync(manifest).size} bytes, more than a workspace manifest's ${MAX_MANIFEST_BYTES}`
          : !isFile(join(kernel, 'scripts', 'build.sh'))
            ? 'not a TARS kernel workspace: it has no scripts/build.sh'
            : undefined;
    if (issue) add('kernel.path', issue, config.kernel.path);
  }
  const members = kernelOk ? cargoWorkspaceMembers(manifest) : [];
  const usesDotnet = config.agents.some((a) => a.lang === 'csharp' || a.lang === 'fsharp');
  if (usesDotnet && !outside('dotnet.path', config.dotnet.path, join(root, config.dotnet.path)) && !isFile(join(root, config.dotnet.path, 'scripts', 'publish-agent.sh'))) {
    add('dotnet.path', `not the TARS .NET agent SDK: ${posix.join(config.dotnet.path, 'scripts/publish-agent.sh')} is missing (C# and F# agents need it)`, config.dotnet.path);
  }
  config.agents.forEach((agent, i) => {
    if (agent.files === undefined) return;
    const key = `agents.${i}.files`;
    const abs = join(root, agent.files);
    if (!isDir(abs)) return add(key, `no such directory (the file tree of agent ${agent.name})`, agent.files);
    if (outside(key, agent.files, abs)) return;
    const problem = fileTreeProblem(abs);
    if (problem) add(key, `${problem} (the file tree of agent ${agent.name})`, agent.files);
  });
  const rootfs = join(root, 'rootfs');
  if (isDir(rootfs) && config.agents.some((a) => a.files === undefined && (a.lang === 'csharp' || a.lang === 'fsharp' || a.lang === 'elf'))) {
    const problem = outside('rootfs', 'rootfs', rootfs) ? undefined : fileTreeProblem(rootfs);
    if (problem) add('rootfs', `${problem} (the project's file tree)`, 'rootfs');
  }
  config.agents.forEach((agent, i) => {
    const key = `agents.${i}.path`;
    const abs = join(root, agent.path);
    if (!existsSync(abs)) return add(key, `no such ${agent.lang === 'elf' ? 'file' : 'directory'} (agent ${agent.name})`, agent.path);
    if (outside(key, agent.path, abs)) return;
    switch (agent.lang) {
      case 'elf': {
        if (isDir(abs)) return add(key, `a prebuilt (elf) agent's path is its executable file, not a directory (agent ${agent.name})`, agent.path);
        // Never opened unless a regular file: opening a FIFO would wait for a writer forever.
        if (!isFile(abs)) return add(key, `not a regular file (a FIFO, socket or device): a prebuilt (elf) agent's path is its executable (agent ${agent.name})`, agent.path);
        const elf = startsWithElfMagic(abs);
        if (typeof elf === 'string') return add(key, `cannot be read (${elf}) (agent ${agent.name})`, agent.path);
        if (!elf) return add(key, `not an ELF executable (agent ${agent.name})`, agent.path);
        return;
      }
      case 'rust': {
        if (!isDir(abs) || !isFile(join(abs, 'Cargo.toml'))) return add(key, `not a Rust crate: no Cargo.toml there (agent ${agent.name})`, agent.path);
        const crate = agentCrateDir(config, agent.path);
        if (crate === undefined) return add(key, `a Rust agent is a crate inside the kernel workspace (${config.kernel.path}/agents/…) (agent ${agent.name})`, agent.path);
        if (kernelOk && !members.includes(posix.normalize(crate))) return add(key, `the crate is not a member of the kernel workspace: add "${crate}" to members in ${posix.join(config.kernel.path, 'Cargo.toml')} (agent ${agent.name})`, agent.path);
        return;
      }
      case 'csharp':
      case 'fsharp': {
        const projects = isDir(abs) ? [abs, join(abs, 'Host')].filter(isDir).flatMap((d) => readdirNames(d).filter((f) => f.endsWith('.csproj'))) : [];
        if (projects.length === 0) return add(key, `no .csproj there (nor a Host/*.Host.csproj shim for F#) (agent ${agent.name})`, agent.path);
        return;
      }
      case 'c': {
        if (!isDir(abs) || !readdirNames(abs).some((f) => f.endsWith('.c'))) return add(key, `not a C guest: no .c file there (agent ${agent.name})`, agent.path);
        if (agentCrateDir(config, agent.path) === undefined) return add(key, `a C sandbox guest lives inside the kernel workspace (${config.kernel.path}/agents/…), where its runtime is (agent ${agent.name})`, agent.path);
        return;
      }
      case 'cuda':
        if (!isFile(join(abs, 'scripts', 'build-fatbin.sh'))) return add(key, `not a CUDA module: no scripts/build-fatbin.sh there (agent ${agent.name})`, agent.path);
        return;
    }
  });
  return issues;
}

/** Why directory `abs` cannot be a file tree (a symlink out of it, a device…), or undefined. */
function fileTreeProblem(abs: string): string | undefined {
  try {
    collectFileTree(abs, { contents: false });
    return undefined;
  } catch (err) {
    return (err as Error).message.replace(/^File tree [^:]*: /, '');
  }
}

function readdirNames(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Throws CONFIG_INVALID listing every issue as `<file> [key]: message (got: "value")`. */
export function checkSources(config: TarsConfig, root: string, configFile?: string): void {
  const issues = findSourceIssues(config, root);
  if (issues.length === 0) return;
  const label = configFile ? relative(process.cwd(), configFile) || configFile : 'config';
  throw new AbortError(issues.map((i) => `${label} [${i.key}]: ${i.message} (got: ${JSON.stringify(i.got)})`).join('\n'), {
    code: 'CONFIG_INVALID',
    tryMessage: 'Paths in the config are relative to the project root; fix them, or `tarscli agent remove NAME` an agent whose sources are gone.',
  });
}

/** The doctor's check of a project: every path its config names is there and of the right kind. */
export function projectSourcesCheck(configFile: string | undefined): Check {
  return {
    id: 'project',
    title: 'project sources',
    required: true,
    async run(ctx) {
      if (!configFile) return { status: 'ok', detail: 'not in a TARS project (no config file)' };
      const issues = findSourceIssues(ctx.config, ctx.root);
      if (issues.length === 0) return { status: 'ok', detail: `every path in ${relative(ctx.root, configFile) || configFile} is there` };
      return { status: 'fail', detail: issues.map((i) => `[${i.key}] ${i.message} (got: ${JSON.stringify(i.got)})`).join('; '), fix: `Fix the paths in ${relative(process.cwd(), configFile) || configFile}` };
    },
  };
}
