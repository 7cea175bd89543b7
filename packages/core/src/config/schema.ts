/** The TARS config schema: the single definition of every key, its type and default. */
import { z } from 'zod';
import { WORKSPACE_DIR } from '../workspace.js';
import {
  ACCELS,
  AGENT_LANGS,
  AGENT_NAME_RE,
  CAP_RE,
  CAP_SLOTS,
  ENV_NAME_RE,
  ENV_VALUE_RE,
  EXECUTOR_KINDS,
  FAULT_POLICIES,
  IMAGE_FORMATS,
  MACHINE_CHOICES,
  MAX_ARG_BYTES,
  MAX_ARGS,
  MAX_CHILDREN,
  PROJECT_PATH_RE,
} from './constants.js';

const toolchainSchema = z
  .object({
    /** Builder image for this toolchain; any image name works (e.g. `rust:1.95`). */
    image: z.string().min(1),
    /** A component built with this toolchain may be skipped when the toolchain is missing. */
    optional: z.boolean().default(false),
  })
  .strict();

const U64_MAX = 2n ** 64n - 1n;

export const agentSchema = z
  .object({
    name: z.string().regex(AGENT_NAME_RE, 'must be kebab-case: a-z, 0-9 and single dashes, 2 to 40 characters'),
    lang: z.enum(AGENT_LANGS),
    /** Source directory, relative to the project root (inside it: no `..`, not absolute). */
    path: z.string().min(1).regex(PROJECT_PATH_RE, 'must be a path inside the project, relative to its root (no "..", not absolute)'),
    version: z.string().regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/, 'must be a semantic version like 1.2.3').default('0.1.0'),
    /** Base scheduling level, 0 (most urgent) to 7. */
    priority: z.number().int().min(0).max(7).default(3),
    /** Kernel capabilities in slot order: serve=EP, call=EP, notify=N, shm=NAME. */
    caps: z.array(z.string().regex(CAP_RE, 'must be serve=NAME, call=NAME, notify=NAME or shm=NAME')).max(CAP_SLOTS, `at most ${CAP_SLOTS} capabilities (the kernel's slots per task)`).default([]),
    /**
     * Devices the kernel grants to this agent's task (`device=blk0+…`): a driver agent. blkN is the
     * Nth disk attached with `os deploy --disk`. Rust agents only.
     */
    devices: z.array(z.string().regex(/^blk[0-9]$/, 'must be a device name: blk0 to blk9')).max(8).default([]),
    /** DMA frames (4 KiB pages) the kernel lends a driver for its devices (`dma=`; the kernel's default 64). */
    dma: z.number().int().min(1).max(4096).optional(),
    /** false: the image is registered but not started at boot (module line `boot=no`, state `image`); it runs only when spawned. */
    boot: z.boolean().default(true),
    /** The task's argument (`arg=`, a u64): a safe integer, or a decimal string for the whole u64 range. */
    arg: z
      .union([
        z.number().int('must be a whole number').min(0, 'must be 0 or more').max(Number.MAX_SAFE_INTEGER, 'above 2^53 - 1: write it as a decimal string ("18446744073709551615")'),
        z.string().regex(/^\d{1,20}$/, 'must be a decimal number').refine((v) => BigInt(v) <= U64_MAX, 'must fit in 64 bits (at most 18446744073709551615)'),
      ])
      .optional(),
    /** Modules this agent's tasks may spawn at run time (`spawn=a+b`), or `["*"]` for any. */
    spawn: z.array(z.string().refine((v) => v === '*' || AGENT_NAME_RE.test(v), 'must be an agent name or "*"')).default([]),
    /** Unreaped children each task may have at once (`children=`; the kernel's default 16). */
    children: z.number().int().min(1).max(MAX_CHILDREN).optional(),
    /** MiB of memory for all of a task's live descendants together (`child_mem=`; the kernel's default 16). */
    childMem: z.number().int().min(1).max(65536).optional(),
    /** On a fault: `restart` (backoff 50 ms, doubling per restart, at most 2 s) or `stop`. */
    onFault: z.enum(FAULT_POLICIES).default('stop'),
    /**
     * Memory limit in MiB for agents that run as Linux executables (csharp, fsharp, elf): the
     * kernel stops the agent past it (a fault, `out_of_memory`); .NET agents also get a GC heap
     * limit of three quarters of it.
     */
    memory: z.number().int().min(4).max(65536).optional(),
    /** Environment of a Linux-executable agent (csharp, fsharp, elf), added to TARS_*. */
    env: z
      .record(z.string().regex(ENV_NAME_RE, 'must be an environment variable name: A-Z, 0-9 and _, not starting with a digit'), z.string().regex(ENV_VALUE_RE, 'must be printable ASCII without spaces or quotes (it travels on the module command line)'))
      .default({}),
    /**
     * The whole argv of a Linux-executable agent, argv[0] included (busybox picks its applet by
     * it): the module's `argv=` word. Without it argv = [name]. At most 32, printable ASCII.
     */
    args: z.array(z.string().regex(/^[\x20-\x7e]*$/, 'must be printable ASCII')).min(1, 'must hold argv[0] at least').max(MAX_ARGS, `at most ${MAX_ARGS} arguments (the kernel's limit)`).optional(),
    /**
     * A directory of the project mounted read-only at `/` for this Linux-executable agent (in
     * place of the project's `rootfs/`): written into the image as a file tree archive.
     */
    files: z.string().min(1).regex(PROJECT_PATH_RE, 'must be a path inside the project, relative to its root (no "..", not absolute)').optional(),
    /**
     * A function module (Hyperlight's model on TARS isolation): a guest image that never runs as
     * a task (`boot=no sandbox=yes`); agents and `os hyperlight call` make sandboxes of it and
     * call the functions it exports. Rust (crates/sandbox-guest) or C (the C guest runtime).
     */
    sandbox: z.boolean().default(false),
    optional: z.boolean().default(false),
  })
  .strict()
  .superRefine((a, ctx) => {
    if (a.sandbox && a.lang !== 'rust' && a.lang !== 'c') ctx.addIssue({ code: 'custom', path: ['sandbox'], message: `sandbox guests are written in rust or c, not ${a.lang}` });
    if (a.lang === 'c' && !a.sandbox) ctx.addIssue({ code: 'custom', path: ['lang'], message: 'c is for sandbox guests: set "sandbox": true' });
    if (a.sandbox) {
      const task = { caps: a.caps.length > 0, arg: a.arg !== undefined, spawn: a.spawn.length > 0, children: a.children !== undefined, childMem: a.childMem !== undefined, onFault: a.onFault !== 'stop' };
      for (const [key, used] of Object.entries(task)) if (used) ctx.addIssue({ code: 'custom', path: [key], message: `a sandbox guest is not a task: ${key} does not apply` });
    }
    const linux = a.lang === 'csharp' || a.lang === 'fsharp' || a.lang === 'elf';
    if ((a.devices.length > 0 || a.dma !== undefined) && (a.lang !== 'rust' || a.sandbox)) ctx.addIssue({ code: 'custom', path: ['devices'], message: `only Rust agent tasks drive devices, not ${a.sandbox ? 'a sandbox guest' : a.lang}` });
    if (!linux && a.args !== undefined) ctx.addIssue({ code: 'custom', path: ['args'], message: `only agents that run as Linux executables (csharp, fsharp, elf) take args, not ${a.lang}` });
    if (!linux && a.files !== undefined) ctx.addIssue({ code: 'custom', path: ['files'], message: `only agents that run as Linux executables (csharp, fsharp, elf) see a file tree, not ${a.lang}` });
    const argBytes = (a.args ?? []).reduce((n, x) => n + x.length + 1, 0);
    if (argBytes > MAX_ARG_BYTES) ctx.addIssue({ code: 'custom', path: ['args'], message: `${argBytes} bytes of arguments: the kernel takes at most ${MAX_ARG_BYTES} (shared with the environment)` });
    if (!linux && a.memory !== undefined) ctx.addIssue({ code: 'custom', path: ['memory'], message: `only agents that run as Linux executables (csharp, fsharp, elf) take a memory limit, not ${a.lang}` });
    if (!linux && Object.keys(a.env).length > 0) ctx.addIssue({ code: 'custom', path: ['env'], message: `only agents that run as Linux executables (csharp, fsharp, elf) take an environment, not ${a.lang}` });
  });

export const configSchema = z
  .object({
    /** The JSON Schema editors check this file against (tars.config.schema.json); ignored by tarscli. */
    $schema: z.string().optional(),
    name: z.string().min(1).default('tars-os'),
    version: z.string().regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/, 'must be a semantic version like 1.2.3').default('0.1.0'),
    executor: z
      .object({
        default: z.enum(EXECUTOR_KINDS).default('auto'),
        /** Steps run with networking disabled unless this is true. */
        network: z.boolean().default(false),
      })
      .strict()
      .default({}),
    toolchains: z
      .object({
        base: toolchainSchema.default({ image: 'tars-builder-base:bookworm' }),
        rust: toolchainSchema.default({ image: 'tars-builder-rust:stable' }),
        dotnet: toolchainSchema.default({ image: 'tars-builder-dotnet:10', optional: true }),
        cuda: toolchainSchema.default({ image: 'tars-builder-cuda:11.8', optional: true }),
      })
      .strict()
      .default({}),
    kernel: z
      .object({
        /** The kernel-rs Cargo workspace, relative to the project root. */
        path: z.string().min(1).default('packages/kernel-rs'),
        /** Extra kernel command line. */
        cmdline: z.string().default(''),
      })
      .strict()
      .default({}),
    dotnet: z
      .object({
        /** The dotnet-interop package (SDK, ABI bindings, publish script), relative to the project root. */
        path: z.string().min(1).default('packages/dotnet-interop'),
      })
      .strict()
      .default({}),
    gpu: z
      .object({
        /** The gpu-modules package (CUDA kernels, CPU reference, native runner). */
        path: z.string().min(1).default('packages/gpu-modules'),
      })
      .strict()
      .default({}),
    image: z
      .object({
        format: z.enum(IMAGE_FORMATS).default('iso'),
        outDir: z.string().min(1).default('dist'),
      })
      .strict()
      .default({}),
    qemu: z
      .object({
        accel: z.enum(ACCELS).default('auto'),
        machine: z.enum(MACHINE_CHOICES).default('auto'),
        memoryMb: z.number().int().min(32).max(65536).default(256),
        bootTimeoutMs: z.number().int().positive().default(30_000),
      })
      .strict()
      .default({}),
    cache: z
      .object({
        dir: z.string().min(1).default(`${WORKSPACE_DIR}/cache`),
        maxSizeMb: z.number().int().positive().default(4096),
        /** A Turborepo remote-cache server shared with turbo (token from TARS_REMOTE_CACHE_TOKEN or TURBO_TOKEN). */
        remote: z
          .object({
            url: z.string().url('must be a URL like http://cache.example:3000').optional(),
            team: z.string().min(1).default('tars'),
            read: z.boolean().default(true),
            write: z.boolean().default(true),
            timeoutMs: z.number().int().positive().default(10_000),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
    agents: z.array(agentSchema).default([]),
  })
  .strict()
  .superRefine((c, ctx) => {
    // An agent's name is its module, its build output and its id everywhere: one agent per name.
    const first = new Map<string, number>();
    c.agents.forEach((a, i) => {
      const j = first.get(a.name);
      if (j === undefined) first.set(a.name, i);
      else ctx.addIssue({ code: 'custom', path: ['agents', i, 'name'], message: `agents.${j} already has this name: agent names must be unique` });
    });
    // What an agent may spawn must be a module of this image (or "*"): the kernel would only say
    // E_BAD_IMAGE at run time. A CUDA module is no task: it neither spawns nor is spawned.
    c.agents.forEach((a, i) => {
      if (a.spawn.includes('*') && a.spawn.length > 1) ctx.addIssue({ code: 'custom', path: ['agents', i, 'spawn'], message: '"*" already allows every module: list names or "*", not both' });
      a.spawn.forEach((n, k) => {
        if (n === '*') return;
        const j = first.get(n);
        if (j === undefined) ctx.addIssue({ code: 'custom', path: ['agents', i, 'spawn', k], message: `"${n}" is not an agent in this config (agents: ${[...first.keys()].join(', ') || 'none'})` });
        else if (c.agents[j]?.lang === 'cuda') ctx.addIssue({ code: 'custom', path: ['agents', i, 'spawn', k], message: `"${n}" is a CUDA module, not a task that can be spawned` });
        else if (c.agents[j]?.sandbox) ctx.addIssue({ code: 'custom', path: ['agents', i, 'spawn', k], message: `"${n}" is a sandbox guest (a function module), not a task that can be spawned` });
      });
      if (a.lang !== 'cuda') return;
      const set = { boot: !a.boot, arg: a.arg !== undefined, spawn: a.spawn.length > 0, children: a.children !== undefined, childMem: a.childMem !== undefined };
      for (const [key, used] of Object.entries(set)) {
        if (used) ctx.addIssue({ code: 'custom', path: ['agents', i, key], message: `a CUDA module is not a task: ${key} does not apply` });
      }
    });
  });

export type TarsConfigInput = z.input<typeof configSchema>;
export type TarsConfig = z.output<typeof configSchema>;
export type ToolchainName = keyof TarsConfig['toolchains'];
export type AgentLang = (typeof AGENT_LANGS)[number];

/** The config with every default applied. */
export function defaultConfig(): TarsConfig {
  return configSchema.parse({});
}
