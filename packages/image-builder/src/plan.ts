/**
 * The BuildPlan: data describing every component step (inputs, outputs, toolchain, command)
 * and the boot layout. It can be printed (`os build --dry-run`); its input hashes are the
 * cache keys.
 */
import { posix } from 'node:path';
import { AbortError, type TarsConfig, type ToolchainName } from '@tars/core';
import { fileTreeArchivePath } from './file-tree.js';
import type { InputSpec } from './hash-inputs.js';
import { agentCrateDir } from './sources.js';

export type ComponentKind = 'kernel' | 'rust-agent' | 'dotnet-agent' | 'gpu-module' | 'c-guest';

export interface ComponentStep {
  /** `kernel` or `agent:<name>`. */
  id: string;
  kind: ComponentKind;
  toolchain: ToolchainName;
  /** Argument array run with the workspace root as the mount point. */
  command: string[];
  /** Inputs relative to the project root. */
  inputs: Omit<InputSpec, 'root' | 'extra'>;
  /** Output files relative to the project root. */
  outputs: string[];
  optional: boolean;
  /** The step needs the network (default: hermetic). */
  network?: boolean;
  /**
   * Downloads the step needs, done apart from it: on the host, with the network, into a
   * package folder the step then reads offline (the builder containers do not trust the
   * package sources' certificates, and build steps never get the network).
   */
  fetch?: FetchSpec;
}

export interface FetchSpec {
  /** Argument array run on the host from the project root. */
  command: string[];
  /**
   * Files the fetch writes into the step's inputs (lock files). While one is missing the fetch
   * runs before the inputs are hashed, so the key covers what was locked.
   */
  creates: string[];
}

/** A component's debug information (symbols, line tables), carried beside the image. */
export interface DebugSpec {
  /** The component it describes: `kernel` or `agent:<name>`. */
  component: string;
  /** The binary's name as fault reports give it (`tars-kernel`, or the agent's name). */
  name: string;
  /** Output file (relative to the project root). */
  source: string;
  /** Path beside the image: `debug/<name>.dbg`. */
  file: string;
}

export interface BootModuleSpec {
  name: string;
  version: string;
  /** Output file (relative to the project root) that becomes the module. */
  source: string;
  /** File name inside the image. */
  file: string;
  /** Module command line after the path. */
  args: string;
}

/** A file carried in the image without being a boot module (NativeAOT .NET agents). */
export interface PayloadSpec {
  name: string;
  lang: string;
  version: string;
  source: string;
  file: string;
}

/** A CUDA module carried in the image: its fatbin and manifest. */
export interface GpuModuleSpec {
  name: string;
  version: string;
  fatbinSource: string;
  manifestSource: string;
}

/**
 * A read-only file tree: directory `dir` of the project, written before assembly as the archive
 * `source` (file-tree.ts) and booted as a module with `tree=NAME`; Linux agents whose line says
 * `files=NAME` (or, for `rootfs`, that say nothing) see it at `/`.
 */
export interface FileTreeSpec {
  name: string;
  dir: string;
  source: string;
}

/** A function module (sandbox guest): its boot module's output, whose signature table the manifest lists. */
export interface SandboxModuleSpec {
  name: string;
  version: string;
  lang: 'rust' | 'c';
  source: string;
  /** File name inside the image (its boot module). */
  file: string;
}

export interface BuildPlan {
  name: string;
  version: string;
  steps: ComponentStep[];
  boot: { kernelSource: string; cmdline: string; modules: BootModuleSpec[] };
  fileTrees: FileTreeSpec[];
  payloads: PayloadSpec[];
  gpuModules: GpuModuleSpec[];
  /** Absent in plans without function modules (so their keys stay as they were). */
  sandboxModules?: SandboxModuleSpec[];
  debug: DebugSpec[];
}

/** The C guest runtime (header and library), inside the kernel workspace. */
export const SANDBOX_GUEST_C = 'crates/sandbox-guest/c';

const KERNEL_EXCLUDES = ['target', 'out', 'node_modules', '.test-results', 'test', 'bench'];

/** The component id of an agent: `agent:<name>` (the kernel's is `kernel`). */
export function agentComponentId(name: string): string {
  return `agent:${name}`;
}

/** Agents that run as unmodified static Linux executables (the kernel's `abi=linux`). */
export function runsAsLinuxExecutable(lang: string): boolean {
  return lang === 'csharp' || lang === 'fsharp' || lang === 'elf';
}

/**
 * The `argv=` word's value: arguments joined by `+`, every byte but letters, digits and
 * `-._~/=:,@` written `%XX` (so a space, a plus or a percent survive the module line).
 */
export function encodeArgv(args: string[]): string {
  return args.map((a) => Array.from(Buffer.from(a), (b) => (/[A-Za-z0-9\-._~/=:,@]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('')).join('+');
}

/** A tree's directory as one spelling (`a/./b/` is `a/b`). */
function treeDir(dir: string): string {
  return posix.normalize(dir).replace(/\/+$/, '');
}

/** The tree name an agent's `files` directory gets: named after the first agent that uses it. */
export function fileTreeName(config: TarsConfig, dir: string): string {
  const first = config.agents.find((a) => a.files !== undefined && treeDir(a.files) === treeDir(dir));
  return `agent-${first?.name ?? 'files'}`;
}

export function moduleArgs(agent: TarsConfig['agents'][number]): string {
  // A function module never runs as a task: the kernel makes sandboxes of it.
  if (agent.sandbox) return [`name=${agent.name}`, `version=${agent.version}`, 'boot=no', 'sandbox=yes'].join(' ');
  // `stop` is the kernel's default: only `restart` needs a word on the command line.
  const fault = agent.onFault === 'restart' ? ['fault=restart'] : [];
  // Lifecycle words only when set: the kernel's defaults (boot, no arg, no spawn right, 16
  // children, 16 MiB) need none, so existing images keep their exact command lines.
  const lifecycle = [
    ...(agent.boot === false ? ['boot=no'] : []),
    ...(agent.arg !== undefined ? [`arg=${agent.arg}`] : []),
    ...(agent.spawn.length ? [`spawn=${agent.spawn.join('+')}`] : []),
    ...(agent.children !== undefined ? [`children=${agent.children}`] : []),
    ...(agent.childMem !== undefined ? [`child_mem=${agent.childMem}`] : []),
    ...(agent.devices.length ? [`device=${agent.devices.join('+')}`] : []),
    ...(agent.dma !== undefined ? [`dma=${agent.dma}`] : []),
  ];
  const words = [`name=${agent.name}`, `version=${agent.version}`, `prio=${agent.priority}`, ...fault, ...lifecycle, ...agent.caps];
  if (!runsAsLinuxExecutable(agent.lang)) return words.join(' ');
  words.push('abi=linux');
  if (agent.memory !== undefined) {
    words.push(`mem=${agent.memory}`);
    // The .NET GC keeps its heap under three quarters of the agent's limit (the rest: runtime,
    // stacks, code). The runtime reads DOTNET_ GC settings as bare hex digits: with a `0x`
    // prefix it ignores the value (and reserves tens of GiB).
    if (agent.lang !== 'elf' && agent.env['DOTNET_GCHeapHardLimit'] === undefined) words.push(`env=DOTNET_GCHeapHardLimit=${Math.floor((agent.memory * 1024 * 1024 * 3) / 4).toString(16)}`);
  }
  for (const [k, v] of Object.entries(agent.env)) words.push(`env=${k}=${v}`);
  if (agent.args !== undefined) words.push(`argv=${encodeArgv(agent.args)}`);
  return words.join(' ');
}

/** moduleArgs, and `files=TREE` for an agent with its own file tree. */
function agentModuleArgs(config: TarsConfig, agent: TarsConfig['agents'][number]): string {
  const words = moduleArgs(agent);
  return agent.files !== undefined && runsAsLinuxExecutable(agent.lang) ? `${words} files=${fileTreeName(config, agent.files)}` : words;
}

export interface PlanOptions {
  /** The project has a `rootfs/` directory: the tree Linux agents without `files` see at `/`. */
  projectRootfs?: boolean;
}

export function createBuildPlan(config: TarsConfig, opts: PlanOptions = {}): BuildPlan {
  const k = config.kernel.path;
  const shared = ['Cargo.toml', 'Cargo.lock', 'crates/kcore', 'scripts/build.sh'].map((p) => posix.join(k, p));
  const steps: ComponentStep[] = [
    {
      id: 'kernel',
      kind: 'kernel',
      toolchain: 'rust',
      command: ['bash', posix.join(k, 'scripts/build.sh'), 'kernel'],
      inputs: { include: [...shared, posix.join(k, 'kernel'), posix.join(k, 'linker/kernel.ld')], excludeNames: KERNEL_EXCLUDES },
      outputs: [posix.join(k, 'out/tars-kernel.elf'), posix.join(k, 'out/tars-kernel.dbg')],
      optional: false,
    },
  ];
  const debug: DebugSpec[] = [{ component: 'kernel', name: 'tars-kernel', source: posix.join(k, 'out/tars-kernel.dbg'), file: 'debug/tars-kernel.dbg' }];
  const modules: BootModuleSpec[] = [];
  const payloads: PayloadSpec[] = [];
  const gpuModules: GpuModuleSpec[] = [];
  const sandboxModules: SandboxModuleSpec[] = [];
  const d = config.dotnet.path;
  for (const agent of config.agents) {
    if (agent.lang === 'c') {
      // A C sandbox guest: its sources and the C guest runtime, freestanding, linked as agents are.
      const out = posix.join(k, 'out/agents', `${agent.name}.elf`);
      const dbg = posix.join(k, 'out/agents', `${agent.name}.dbg`);
      steps.push({
        id: agentComponentId(agent.name),
        kind: 'c-guest',
        toolchain: 'rust',
        command: ['bash', posix.join(k, 'scripts/build.sh'), 'cguest', agent.name, agentCrateDir(config, agent.path) ?? posix.join('agents', agent.name)],
        inputs: { include: [posix.join(k, 'scripts/build.sh'), posix.join(k, SANDBOX_GUEST_C), posix.join(k, 'linker/agent.ld'), agent.path], excludeNames: KERNEL_EXCLUDES },
        outputs: [out, dbg],
        optional: agent.optional,
      });
      debug.push({ component: agentComponentId(agent.name), name: agent.name, source: dbg, file: `debug/${agent.name}.dbg` });
      modules.push({ name: agent.name, version: agent.version, source: out, file: `${agent.name}.elf`, args: moduleArgs(agent) });
      sandboxModules.push({ name: agent.name, version: agent.version, lang: 'c', source: out, file: `${agent.name}.elf` });
      continue;
    }
    if (agent.lang === 'csharp' || agent.lang === 'fsharp') {
      // A static executable (NativeAOT, static-pie) that boots as a module: the SDK's OsHost
      // drives the agent, libtars makes the TARS calls. The .so build stays for the harness.
      const out = posix.join(d, 'out/agents', `${agent.name}.elf`);
      const dbg = posix.join(d, 'out/agents', `${agent.name}.dbg`);
      const publish = posix.join(d, 'scripts/publish-agent.sh');
      steps.push({
        id: agentComponentId(agent.name),
        kind: 'dotnet-agent',
        toolchain: 'dotnet',
        command: ['bash', publish, '--os', agent.path, agent.name],
        inputs: {
          include: [agent.path, posix.join(d, 'sdk'), posix.join(d, 'generated'), posix.join(d, 'native'), publish, posix.join(d, 'scripts/reproducible.sh'), posix.join(d, 'scripts/build-libtars.sh')],
          excludeNames: ['bin', 'obj', 'out', 'node_modules'],
        },
        outputs: [out, dbg],
        optional: agent.optional,
        // NuGet packages (the NativeAOT compiler among them) come from packages.lock.json into
        // .tars/nuget on the host; the publish itself runs offline against that folder.
        fetch: { command: ['bash', publish, '--fetch', agent.path, agent.name], creates: [posix.join(agent.path, 'packages.lock.json')] },
      });
      debug.push({ component: agentComponentId(agent.name), name: agent.name, source: dbg, file: `debug/${agent.name}.dbg` });
      modules.push({ name: agent.name, version: agent.version, source: out, file: `${agent.name}.elf`, args: agentModuleArgs(config, agent) });
      continue;
    }
    if (agent.lang === 'elf') {
      // A prebuilt static executable: nothing to build, its bytes go into the image as they are.
      modules.push({ name: agent.name, version: agent.version, source: agent.path, file: `${agent.name}.elf`, args: agentModuleArgs(config, agent) });
      continue;
    }
    if (agent.lang === 'cuda') {
      const out = (f: string) => posix.join(agent.path, 'out', f);
      steps.push({
        id: agentComponentId(agent.name),
        kind: 'gpu-module',
        toolchain: 'cuda',
        command: ['bash', posix.join(agent.path, 'scripts/build-fatbin.sh')],
        inputs: { include: [posix.join(agent.path, 'kernels'), posix.join(agent.path, 'reference'), posix.join(agent.path, 'scripts/build-fatbin.sh')], excludeNames: ['out', 'node_modules'] },
        outputs: [out('module.fatbin'), out('module.json')],
        optional: agent.optional,
      });
      gpuModules.push({ name: agent.name, version: agent.version, fatbinSource: out('module.fatbin'), manifestSource: out('module.json') });
      continue;
    }
    if (agent.lang !== 'rust') {
      throw new AbortError(`Agent ${agent.name}: ${agent.lang} agents cannot be built into an image by this version of tarscli`, { code: 'CONFIG_INVALID', tryMessage: 'Remove it from agents[] or build it with its own package.' });
    }
    const out = posix.join(k, 'out/agents', `${agent.name}.elf`);
    const dbg = posix.join(k, 'out/agents', `${agent.name}.dbg`);
    // Built from its path (the crate), named by its name: two agents may share a crate, and an
    // agent renamed in the config keeps its sources. checkSources proves the crate is a member.
    const crate = agentCrateDir(config, agent.path) ?? posix.join('agents', agent.name);
    debug.push({ component: agentComponentId(agent.name), name: agent.name, source: dbg, file: `debug/${agent.name}.dbg` });
    steps.push({
      id: agentComponentId(agent.name),
      kind: 'rust-agent',
      toolchain: 'rust',
      command: ['bash', posix.join(k, 'scripts/build.sh'), 'agent', agent.name, crate],
      inputs: {
        include: [...shared, posix.join(k, agent.sandbox ? 'crates/sandbox-guest' : 'crates/agent-rt'), posix.join(k, 'linker/agent.ld'), agent.path],
        excludeNames: KERNEL_EXCLUDES,
      },
      outputs: [out, dbg],
      optional: agent.optional,
    });
    modules.push({ name: agent.name, version: agent.version, source: out, file: `${agent.name}.elf`, args: agentModuleArgs(config, agent) });
    if (agent.sandbox) sandboxModules.push({ name: agent.name, version: agent.version, lang: 'rust', source: out, file: `${agent.name}.elf` });
  }
  // File trees first: the kernel has them before any agent opens a path.
  const fileTrees: FileTreeSpec[] = [];
  const linux = config.agents.filter((a) => runsAsLinuxExecutable(a.lang));
  if (opts.projectRootfs && linux.some((a) => a.files === undefined)) fileTrees.push({ name: 'rootfs', dir: 'rootfs', source: fileTreeArchivePath('rootfs') });
  for (const a of linux) {
    if (a.files === undefined) continue;
    const name = fileTreeName(config, a.files);
    if (!fileTrees.some((t) => t.name === name)) fileTrees.push({ name, dir: treeDir(a.files), source: fileTreeArchivePath(name) });
  }
  modules.unshift(...fileTrees.map((t) => ({ name: t.name, version: config.version, source: t.source, file: `${t.name}.tarsfs`, args: `name=${t.name} tree=${t.name}` })));
  return {
    name: config.name,
    version: config.version,
    steps,
    boot: { kernelSource: posix.join(k, 'out/tars-kernel.elf'), cmdline: config.kernel.cmdline, modules },
    fileTrees,
    payloads,
    gpuModules,
    ...(sandboxModules.length ? { sandboxModules } : {}),
    debug,
  };
}
