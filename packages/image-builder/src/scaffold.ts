/**
 * `agent new`: render a template into a new agent directory, register the agent in the config,
 * and (for Rust) add its crate to the kernel workspace. Never overwrites: the directory is staged
 * and renamed into place, and any existing file or taken name is an error.
 */
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, posix, relative, resolve, sep } from 'node:path';
import { AbortError, AGENT_NAME_RE, editJsonText, writeFileAtomic, type LoadedConfig, type TarsConfig, type TarsConfigInput } from '@tars/core';
import { addCargoLockPackage, addCargoMember, readLockPackage, removeCargoLockPackage, removeCargoMember } from './cargo-members.js';
import { contains, realish } from './output-dir.js';

export const SCAFFOLD_LANGS = ['rust', 'csharp', 'fsharp', 'cuda'] as const;
export type ScaffoldLang = (typeof SCAFFOLD_LANGS)[number];

const TEMPLATE_DIR: Record<ScaffoldLang, string> = { rust: 'rust-agent', csharp: 'csharp-agent', fsharp: 'fsharp-agent', cuda: 'cuda-module' };

/**
 * Templates beyond the one per language. `multi-agent`: a Rust coordinator NAME and the worker
 * NAME-worker it spawns at run time — two crates, two config entries, from one `agent new`.
 */
export const SCAFFOLD_TEMPLATES = ['multi-agent'] as const;
export type ScaffoldTemplate = (typeof SCAFFOLD_TEMPLATES)[number];
/** The language each template is written in. */
export const TEMPLATE_LANG: Record<ScaffoldTemplate, ScaffoldLang> = { 'multi-agent': 'rust' };

/** A config entry as a person writes it (defaults may be left out). */
export type AgentEntry = NonNullable<TarsConfigInput['agents']>[number];

/** Languages of sandbox guests (function modules): `os hyperlight new --lang`. */
export const SANDBOX_LANGS = ['rust', 'c'] as const;
export type SandboxLang = (typeof SANDBOX_LANGS)[number];

export interface ScaffoldOptions {
  loaded: LoadedConfig;
  name: string;
  lang: ScaffoldLang | SandboxLang;
  /**
   * A function module (`os hyperlight new`): templates/sandbox-<lang>, config entry with
   * `"sandbox": true`, in the kernel workspace's agents/.
   */
  sandbox?: boolean;
  /** With sandbox: also the module's CUDA kernels (the cuda-module template's kernels, reference and build script). */
  kernels?: boolean;
  /** Target directory (relative to the project root); a default per language otherwise. */
  dir?: string;
  templatesDir: string;
  /** A template other than the language's own (`multi-agent`); its language must be `lang`. */
  template?: ScaffoldTemplate;
  version?: string;
  dryRun?: boolean;
}

export interface ScaffoldResult {
  name: string;
  lang: ScaffoldLang | SandboxLang;
  sandbox?: boolean;
  dir: string;
  files: string[];
  configFile: string;
  /** The entry written to agents[] (keys with their defaults left out, as a person would write it). */
  configEntry: AgentEntry;
  workspaceMember?: string;
  /** Set for a template beyond the language's own. */
  template?: ScaffoldTemplate;
  /** Every agent a template made, the one above first (a multi-agent template: coordinator, then worker). */
  agents: { name: string; dir: string; configEntry: AgentEntry; workspaceMember?: string }[];
  dryRun: boolean;
}

export const pascal = (name: string) => name.split('-').map((w) => w[0]?.toUpperCase() + w.slice(1)).join('');

function walk(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? walk(p, base) : [relative(base, p)];
  });
}

/** C and C++ keywords a CUDA module's snake_case name would collide with (its kernel and symbols). */
const C_KEYWORDS = new Set('auto break case char const continue default do double else enum extern float for goto if inline int long register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while bool class delete friend new operator private protected public template this throw try catch virtual namespace using typename explicit mutable'.split(' '));

/**
 * Why a well-formed name still cannot be an agent's: the generated code would not compile or
 * would clobber another binary. Undefined when the name is usable.
 */
export function reservedNameReason(name: string, lang?: ScaffoldLang | SandboxLang): string | undefined {
  const p = pascal(name);
  if (p === 'Self') return '`Self` is a Rust keyword (the agent type is named after the agent)';
  if (p === 'Agent' || p === 'Heartbeat') return `the Rust template already defines a type \`${p}\``;
  if (name === 'rt') return 'agent-rt is the Rust agent runtime crate';
  if (name === 'tars-kernel') return 'tars-kernel is the kernel binary';
  if (name === 'kcore') return 'kcore is the kernel core crate';
  if (name === 'sandbox-guest') return 'sandbox-guest is the guest runtime crate';
  if ((lang === undefined || lang === 'cuda') && C_KEYWORDS.has(name.replace(/-/g, '_'))) return `\`${name.replace(/-/g, '_')}\` is a C/C++ keyword (a CUDA module's symbols are named after it)`;
  return undefined;
}

export function validateAgentName(name: string, config: TarsConfig, lang?: ScaffoldLang | SandboxLang): void {
  if (!AGENT_NAME_RE.test(name)) {
    throw new AbortError(`Invalid agent name "${name}": use kebab-case (a-z, 0-9 and single dashes), 2 to 40 characters, starting with a letter`, { code: 'USAGE' });
  }
  const reserved = reservedNameReason(name, lang);
  if (reserved) throw new AbortError(`"${name}" cannot be an agent's name: ${reserved}`, { code: 'USAGE', tryMessage: `Pick another name, e.g. ${name}-agent.` });
  if (config.agents.some((a) => a.name === name)) {
    throw new AbortError(`An agent named "${name}" already exists in the config`, { code: 'USAGE', tryMessage: '`tarscli agent list` shows the agents.' });
  }
}

export function defaultAgentDir(config: TarsConfig, lang: ScaffoldLang | SandboxLang, name: string): string {
  if (lang === 'rust' || lang === 'c') return join(config.kernel.path, 'agents', name);
  return join(lang === 'cuda' ? 'gpu' : 'agents', name);
}

/** `absDir` relative to the project root; an error if it (or a symlink on the way) leads outside. */
function insideProject(root: string, absDir: string, asGiven: string): string {
  const rel = relative(root, absDir);
  let existing = absDir;
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  const realRel = relative(realpathSync(root), realpathSync(existing));
  const outside = (r: string) => r === '..' || r.startsWith(`..${sep}`) || isAbsolute(r);
  if (rel === '' || outside(rel) || outside(realRel)) {
    throw new AbortError(`--dir ${asGiven} is outside the project: an agent lives inside ${root}`, { code: 'USAGE', tryMessage: 'Pass a directory relative to the project root, such as agents/NAME.' });
  }
  return rel;
}

/** One agent a template makes: where its files go and the entry that registers it. */
interface ScaffoldUnit {
  name: string;
  templateRoot: string;
  absDir: string;
  dir: string;
  entry: AgentEntry;
  member?: string;
}

/** The shared-memory name of a multi-agent pair: `NAME-world`, shortened to fit a capability name (23 characters). */
export function worldName(name: string): string {
  return `${name.slice(0, 17).replace(/-+$/, '')}-world`;
}

export async function scaffoldAgent(opts: ScaffoldOptions): Promise<ScaffoldResult> {
  const { config, root } = opts.loaded;
  if (opts.template && TEMPLATE_LANG[opts.template] !== opts.lang) {
    throw new AbortError(`The ${opts.template} template is written in ${TEMPLATE_LANG[opts.template]}, not ${opts.lang}`, { code: 'USAGE', tryMessage: `Leave out --lang, or pass --lang ${TEMPLATE_LANG[opts.template]}.` });
  }
  validateAgentName(opts.name, config, opts.lang);
  const absDir = resolve(root, opts.dir ?? defaultAgentDir(config, opts.lang, opts.name));
  const dir = insideProject(root, absDir, opts.dir ?? '');
  if ((opts.lang === 'rust' || opts.lang === 'c') && resolve(absDir, '..') !== resolve(root, config.kernel.path, 'agents')) {
    throw new AbortError(`${opts.lang === 'c' ? 'C sandbox guests' : 'Rust agents'} live in the kernel workspace: --dir must be ${join(config.kernel.path, 'agents', opts.name)}`, { code: 'USAGE' });
  }
  if (opts.lang === 'c' && !opts.sandbox) throw new AbortError('C is for sandbox guests: use `tarscli os hyperlight new NAME --lang c`', { code: 'USAGE' });
  if (opts.kernels && !opts.sandbox) throw new AbortError('CUDA kernels beside a guest are for function modules (os hyperlight new --kernels)', { code: 'BUG' });

  const crate = opts.name.replace(/-/g, '_');
  const sdkRel = relative(absDir, resolve(root, config.dotnet.path)) || '.';
  const version = opts.version ?? '0.1.0';
  const worker = `${opts.name}-worker`;
  const world = worldName(opts.name);
  const vars: Record<string, string> = {
    name: opts.name,
    crate,
    CRATE: crate.toUpperCase(),
    Pascal: pascal(opts.name),
    version,
    metric: `${crate}_heartbeats`,
    sdkRel,
    sdkRelDeep: join('..', sdkRel),
    worker,
    world,
  };
  const render = (text: string) => text.replace(/\{\{(\w+)\}\}/g, (m, k: string) => vars[k] ?? m).replace(/__([A-Za-z]+)__/g, (m, k: string) => vars[k] ?? m);

  const base = { lang: opts.lang, version, priority: 3, onFault: 'stop' as const, optional: false };
  const member = (d: string) => (opts.lang === 'rust' ? `agents/${basename(d)}` : undefined);
  let units: ScaffoldUnit[];
  if (opts.template === 'multi-agent') {
    // The worker is a second agent: its name must be free and valid too (NAME at most 33 characters).
    try {
      validateAgentName(worker, config, opts.lang);
    } catch (err) {
      if (err instanceof AbortError) throw new AbortError(`The multi-agent template also makes "${worker}": ${err.message}`, { code: 'USAGE', tryMessage: 'Pick a shorter or another name.' });
      throw err;
    }
    const workerAbs = join(dirname(absDir), worker);
    const workerDir = relative(root, workerAbs);
    units = [
      {
        name: opts.name,
        templateRoot: join(opts.templatesDir, 'multi-agent', 'coordinator'),
        absDir,
        dir,
        // children: the template's MAX_WORKERS, so any `arg` it accepts can be spawned.
        entry: { name: opts.name, path: dir, ...base, caps: [`shm=${world}`], spawn: [worker], children: 24 },
      },
      { name: worker, templateRoot: join(opts.templatesDir, 'multi-agent', 'worker'), absDir: workerAbs, dir: workerDir, entry: { name: worker, path: workerDir, ...base, caps: [], boot: false } },
    ];
  } else if (opts.sandbox) {
    // A function module: never a task, so no priority, capabilities or fault policy.
    units = [{ name: opts.name, templateRoot: join(opts.templatesDir, `sandbox-${opts.lang}`), absDir, dir, entry: { name: opts.name, path: dir, lang: opts.lang, version, sandbox: true } }];
  } else {
    // .NET agents call the Rust `pong` server's `echo` endpoint (the template does, every step).
    const caps = opts.lang === 'csharp' || opts.lang === 'fsharp' ? ['call=echo'] : [];
    units = [{ name: opts.name, templateRoot: join(opts.templatesDir, TEMPLATE_DIR[opts.lang as ScaffoldLang]), absDir, dir, entry: { name: opts.name, path: dir, ...base, caps } }];
  }
  for (const u of units) {
    u.member = member(u.absDir);
    if (existsSync(u.absDir)) throw new AbortError(`${u.dir} already exists; refusing to overwrite anything`, { code: 'USAGE' });
    if (!existsSync(u.templateRoot)) throw new AbortError(`Template ${u.templateRoot} is missing`, { code: 'NOT_FOUND' });
  }
  const files = units.map((u) => walk(u.templateRoot).map((t) => ({ root: u.templateRoot, template: t, out: render(t.replace(/\.tmpl$/, '')) })));
  if (opts.kernels) {
    // The cuda-module template's sources beside the guest (its README is the guest's own).
    const cuda = join(opts.templatesDir, TEMPLATE_DIR.cuda);
    files[0]?.push(...walk(cuda).filter((t) => t !== 'README.md.tmpl').map((t) => ({ root: cuda, template: t, out: render(t.replace(/\.tmpl$/, '')) })));
  }

  const configFile = opts.loaded.filepath ?? join(root, 'tars.config.json');
  const cargoToml = join(root, config.kernel.path, 'Cargo.toml');
  const first = units[0] as ScaffoldUnit;
  const result: ScaffoldResult = {
    name: opts.name,
    lang: opts.lang,
    ...(opts.sandbox ? { sandbox: true } : {}),
    dir,
    files: units.flatMap((u, i) => (files[i] ?? []).map((f) => join(u.dir, f.out))),
    configFile,
    configEntry: first.entry,
    ...(first.member ? { workspaceMember: first.member } : {}),
    ...(opts.template ? { template: opts.template } : {}),
    agents: units.map((u) => ({ name: u.name, dir: u.dir, configEntry: u.entry, ...(u.member ? { workspaceMember: u.member } : {}) })),
    dryRun: Boolean(opts.dryRun),
  };
  if (opts.dryRun) return result;

  // Can the config be edited? Decide before writing anything.
  const updateConfig = await configEditor(configFile, units.map((u) => u.entry));
  const members = units.flatMap((u) => (u.member ? [u.member] : []));
  const updateCargo = members.length ? cargoEditor(cargoToml, members) : undefined;
  // The new crates go into Cargo.lock as their first build would put them: that build then
  // leaves the lock (an input of every Rust step) unchanged, so it is cached like any other.
  const lockFile = join(root, config.kernel.path, 'Cargo.lock');
  const lockPackages = units.flatMap((u, i) => {
    const toml = u.member ? files[i]?.find((f) => f.out === 'Cargo.toml') : undefined;
    const pkg = toml ? readLockPackage(render(readFileSync(join(toml.root, toml.template), 'utf8'))) : undefined;
    return pkg ? [pkg] : [];
  });
  const lockText = lockPackages.length && existsSync(lockFile) ? lockPackages.reduce<string | undefined>((t, p) => (t === undefined ? undefined : addCargoLockPackage(t, p)), readFileSync(lockFile, 'utf8')) : undefined;

  // Every directory is staged first, then renamed into place; any failure removes them all.
  const placed: string[] = [];
  const stages: string[] = [];
  try {
    units.forEach((u, i) => {
      mkdirSync(dirname(u.absDir), { recursive: true });
      const stage = mkdtempSync(join(dirname(u.absDir), `.${basename(u.absDir)}.new-`));
      stages.push(stage);
      for (const f of files[i] ?? []) {
        const out = join(stage, f.out);
        mkdirSync(dirname(out), { recursive: true });
        writeFileSync(out, render(readFileSync(join(f.root, f.template), 'utf8')), { mode: out.endsWith('.sh') ? 0o755 : 0o644 });
      }
    });
    units.forEach((u, i) => {
      renameSync(stages[i] as string, u.absDir); // fails if absDir appeared meanwhile: never overwrite
      placed.push(u.absDir);
    });
  } catch (err) {
    for (const d of [...stages, ...placed]) rmSync(d, { recursive: true, force: true });
    throw err;
  }
  try {
    updateCargo?.();
    if (lockText !== undefined) writeFileAtomic(lockFile, lockText);
    updateConfig();
  } catch (err) {
    for (const d of placed) rmSync(d, { recursive: true, force: true });
    throw err;
  }
  return result;
}

/** Adds `entries` to agents[] and changes nothing else in the file (formatting, order, other keys). */
async function configEditor(file: string, entries: object[]): Promise<() => void> {
  if (!existsSync(file)) return () => writeFileAtomic(file, `${JSON.stringify({ agents: entries }, null, 2)}\n`);
  const name = basename(file);
  let text = readFileSync(file, 'utf8');
  const json = /\.json$|^\.tarsrc$/.test(name) && text.trim().startsWith('{');
  if (name !== 'package.json' && !json) {
    throw new AbortError(`${name} is not JSON, so tarscli cannot add the agent to it`, {
      code: 'CONFIG_INVALID',
      tryMessage: `Add ${entries.length === 1 ? 'this entry' : 'these entries'} to agents[] yourself: ${entries.map((e) => JSON.stringify(e)).join(', ')}`,
    });
  }
  const path = name === 'package.json' ? ['tars', 'agents'] : ['agents'];
  for (const entry of entries) text = await editJsonText(text, path, entry, { append: true });
  const next = text;
  return () => writeFileAtomic(file, next);
}

/** `./agents/x/` and `agents/x` name one workspace member. */
const sameMember = (a: string, b: string) => posix.normalize(`${a}/`) === posix.normalize(`${b}/`);

function cargoEditor(file: string, members: string[]): () => void {
  let text = readFileSync(file, 'utf8');
  for (const member of members) {
    const next = addCargoMember(text, member, sameMember);
    if (next === undefined) throw new AbortError(`${file} has no [workspace] members list to add ${member} to`, { code: 'CONFIG_INVALID' });
    text = next;
  }
  return () => writeFileAtomic(file, text);
}

export interface RemoveAgentOptions {
  loaded: LoadedConfig;
  name: string;
  /** Keep the agent's sources on disk; only unregister it. */
  keepFiles?: boolean;
  dryRun?: boolean;
}

export interface RemoveAgentResult {
  name: string;
  lang: string;
  configFile: string;
  /** The sources deleted (relative to the project root), when they were. */
  removedDir?: string;
  /** Why the sources were kept, when they were. */
  keptBecause?: string;
  workspaceMember?: string;
  dryRun: boolean;
}

/**
 * `agent remove`: the undo of `agent new` — the config entry, the kernel workspace member (Rust)
 * and the agent's directory. A prebuilt (elf) agent's file, a directory another agent also uses,
 * or one outside the project is never deleted. Config and Cargo.toml are rewritten atomically,
 * changing nothing else in them; the directory goes last, after both.
 */
export async function removeAgent(opts: RemoveAgentOptions): Promise<RemoveAgentResult> {
  const { config, root } = opts.loaded;
  const index = config.agents.findIndex((a) => a.name === opts.name);
  if (index < 0) throw new AbortError(`No agent named "${opts.name}" in the config`, { code: 'NOT_FOUND', tryMessage: `\`tarscli agent list\` shows the agents${config.agents.length ? ` (${config.agents.map((a) => a.name).join(', ')})` : ''}.` });
  const agent = config.agents[index] as TarsConfig['agents'][number];
  // The config would no longer load: a spawn list may only name agents it has.
  const spawners = config.agents.filter((a) => a.spawn.includes(agent.name)).map((a) => a.name);
  if (spawners.length) {
    throw new AbortError(`${spawners.join(', ')} ${spawners.length === 1 ? 'spawns' : 'spawn'} ${agent.name} (agents[].spawn): removing it would leave the config naming an agent it does not have`, {
      code: 'USAGE',
      tryMessage: `Remove ${spawners.join(' and ')} first, or take "${agent.name}" out of ${spawners.length === 1 ? 'its' : 'their'} spawn list.`,
    });
  }
  const configFile = opts.loaded.filepath;
  if (!configFile) throw new AbortError('There is no config file to remove the agent from', { code: 'CONFIG_NOT_FOUND' });
  const absDir = resolve(root, agent.path);
  const rel = relative(root, absDir);
  const sharedWith = config.agents.find((a, i) => i !== index && realish(resolve(root, a.path)) === realish(absDir));
  const keptBecause = opts.keepFiles ? '--keep-files' : agent.lang === 'elf' ? 'a prebuilt executable is not created by tarscli, so it is not deleted' : notOwnDirectory(opts.loaded, index, configFile);
  const crate = agent.lang === 'rust' ? posix.relative(posix.normalize(config.kernel.path), posix.normalize(agent.path)) : undefined;
  const cargoToml = join(root, config.kernel.path, 'Cargo.toml');
  const sharedCrate = sharedWith?.lang === 'rust';
  // Only a crate in the workspace's agents/ (where `agent new` puts one) leaves the members list:
  // never the kernel's own crates (kernel, crates/kcore, crates/agent-rt) under an agent's name.
  const member = crate && posix.dirname(crate) === 'agents' && !sharedCrate && existsSync(cargoToml) ? crate : undefined;
  const result: RemoveAgentResult = { name: agent.name, lang: agent.lang, configFile, ...(keptBecause ? { keptBecause } : { removedDir: rel }), ...(member ? { workspaceMember: member } : {}), dryRun: Boolean(opts.dryRun) };
  if (opts.dryRun) return result;

  const name = basename(configFile);
  const text = readFileSync(configFile, 'utf8');
  const arrayPath = name === 'package.json' ? ['tars', 'agents'] : ['agents'];
  if (!(/\.json$|^\.tarsrc$/.test(name) && text.trim().startsWith('{'))) {
    throw new AbortError(`${name} is not JSON, so tarscli cannot remove the agent from it`, { code: 'CONFIG_INVALID', tryMessage: `Remove the entry named "${agent.name}" from agents[] yourself.` });
  }
  const nextConfig = await editJsonText(text, [...arrayPath, index], undefined);
  const nextCargo = member ? removeCargoMember(readFileSync(cargoToml, 'utf8'), member, sameMember) : undefined;
  if (nextCargo !== undefined) writeFileAtomic(cargoToml, nextCargo);
  // Its Cargo.lock entry goes with it (what the next build would do).
  const lockFile = join(root, config.kernel.path, 'Cargo.lock');
  const crateToml = join(absDir, 'Cargo.toml');
  const lockPkg = nextCargo !== undefined && existsSync(crateToml) && existsSync(lockFile) ? readLockPackage(readFileSync(crateToml, 'utf8')) : undefined;
  if (lockPkg) writeFileAtomic(lockFile, removeCargoLockPackage(readFileSync(lockFile, 'utf8'), lockPkg.name));
  writeFileAtomic(configFile, nextConfig);
  if (!keptBecause) rmSync(absDir, { recursive: true, force: true });
  return result;
}

/**
 * Why agent `index`'s directory is not its own to delete, or undefined when it is. Judged by real
 * paths, so a symlink on the way (`agents` -> elsewhere), a `.` segment or another spelling of the
 * same directory cannot make `agent remove` delete what is outside the project or someone else's:
 * only a directory strictly inside the project that holds no other agent, no SDK, no kernel
 * workspace and no config, and lies inside none of them (a Rust agent: in the workspace's agents/).
 */
function notOwnDirectory(loaded: LoadedConfig, index: number, configFile: string): string | undefined {
  const { config, root } = loaded;
  const agent = config.agents[index] as TarsConfig['agents'][number];
  const abs = resolve(root, agent.path);
  if (!existsSync(abs)) return 'it does not exist';
  if (lstatSync(abs).isSymbolicLink()) return 'it is a symbolic link, not the agent\'s own directory';
  const dir = realpathSync(abs);
  const project = realpathSync(root);
  if (dir === project || !contains(project, dir)) return 'it is not inside the project';
  if (!statSync(dir).isDirectory()) return 'it is not a directory';
  const named = (p: string) => realish(resolve(root, p));
  const kernel = named(config.kernel.path);
  const guarded: [string, string][] = [
    [kernel, `the kernel workspace (${config.kernel.path})`],
    [named(config.dotnet.path), `the .NET agent SDK (${config.dotnet.path})`],
    [named(config.gpu.path), `the GPU module sources (${config.gpu.path})`],
    [realish(configFile), `the config file (${relative(root, configFile)})`],
  ];
  for (const [p, what] of guarded) {
    if (contains(dir, p)) return `it is or holds ${what}`;
  }
  for (const [i, other] of config.agents.entries()) {
    if (i === index) continue;
    const p = named(other.path);
    if (contains(dir, p)) return `agent ${other.name} uses ${p === dir ? 'the same directory' : 'a directory inside it'}`;
    if (contains(p, dir)) return `it is inside agent ${other.name}'s directory`;
  }
  if (contains(kernel, dir) && ((agent.lang !== 'rust' && agent.lang !== 'c') || dirname(dir) !== join(kernel, 'agents'))) return `it is part of the kernel workspace (${config.kernel.path}), not a crate in its agents/`;
  for (const [p, what] of guarded.slice(1)) {
    if (contains(p, dir)) return `it is inside ${what}`;
  }
  return undefined;
}
