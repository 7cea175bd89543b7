/**
 * Help without oclif's start: `tarscli`, `tarscli --help`, `tarscli help [COMMAND]`,
 * `tarscli TOPIC`, `tarscli COMMAND --help`/`-h`. The text is oclif's own — its Help class
 * (@oclif/core/help, bundled on its own into the fast start's help chunk) renders it — but the
 * Config that class reads is made here from package.json and the shipped oclif.manifest.json,
 * the way Config.load makes it from them, without the plugin search, the theme and user-plugin
 * reads, the hooks and the rest of oclif that a start-up otherwise evaluates.
 *
 * That Config is exact only where tarscli is as it ships: a package.json whose oclif section has
 * no keys but those read here, a manifest of this version, no user plugins or theme file, no
 * debug output asked for, not WSL (whose platform oclif names `wsl`). Anything else, and any line
 * whose outcome is not plain help of a known command or topic (an unknown word, did-you-mean,
 * `--`, `--version`, flags to `help`), answers false having printed nothing: bin/run.js then
 * runs oclif as before. test/help-fast.e2e.test.ts compares this help with oclif's for every
 * command and topic.
 */
import { Help, normalizeArgv, standardizeIDFromArgv } from '@oclif/core/help';
import { existsSync, readFileSync } from 'node:fs';
import { homedir, release, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { format } from 'node:util';

interface ManifestCommand {
  id: string;
  hidden?: boolean;
  hasDynamicHelp?: boolean;
  aliases?: string[];
  hiddenAliases?: string[];
  summary?: string;
  description?: string;
  pluginType?: string;
  [k: string]: unknown;
}
interface Topic {
  name: string;
  description?: string;
  hidden?: boolean;
}
interface PackageJson {
  name: string;
  version: string;
  description?: string;
  oclif: {
    bin?: string;
    dirname?: string;
    topicSeparator?: string;
    topics?: Record<string, Omit<Topic, 'name'> & { subtopics?: unknown }>;
    additionalHelpFlags?: string[];
    [k: string]: unknown;
  };
}

/**
 * The keys of package.json's oclif section whose effect on help this file reproduces; any other
 * (plugins, helpClass, helpOptions, theme, state, flexibleTaxonomy, additionalVersionFlags…)
 * changes what oclif would print or load, so oclif prints it.
 */
const KNOWN_OCLIF_KEYS = new Set(['bin', 'dirname', 'commands', 'topicSeparator', 'topics', 'additionalHelpFlags', 'hooks']);

/** What oclif's Help and CommandHelp read of a Config, filled in as Config.load fills it. */
class HelpConfig {
  readonly name: string;
  readonly version: string;
  readonly bin: string;
  readonly topicSeparator: ':' | ' ';
  readonly platform = process.platform;
  readonly arch = process.arch === 'ia32' ? 'x86' : process.arch;
  readonly windows = process.platform === 'win32';
  readonly theme = undefined;
  readonly isSingleCommandCLI = false;
  readonly flexibleTaxonomy = false;
  readonly userAgent: string;
  readonly plugins: Map<string, { name: string; pjson: PackageJson; root: string; type: string }>;
  private readonly _commands = new Map<string, ManifestCommand>();
  private readonly _topics = new Map<string, Topic>();

  constructor(
    readonly root: string,
    readonly pjson: PackageJson,
    commands: Record<string, ManifestCommand>,
  ) {
    this.name = pjson.name;
    this.version = pjson.version;
    this.bin = pjson.oclif.bin ?? pjson.name;
    this.topicSeparator = pjson.oclif.topicSeparator === ' ' ? ' ' : ':';
    this.userAgent = `${this.name}/${this.version} ${this.platform}-${this.arch} node-${process.version}`;
    this.plugins = new Map([[this.name, { name: this.name, pjson, root, type: 'core' }]]);
    // Plugin.load: the manifest's commands; Config.loadCommands: each under its id (tarscli has
    // no command aliases; see canRender). Plugin.load sorts them with localeCompare, whose first
    // call costs a start ICU's collator (some 15 ms); that order matters only below.
    const all = Object.entries(commands).map(([id, c]) => ({ ...c, id, pluginAlias: this.name, pluginType: c.pluginType === 'jit' ? 'jit' : 'core' }));
    for (const c of all.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) this._commands.set(c.id, c);
    // Config.loadTopics: package.json's topics, then one for every prefix of a visible command
    // id, described as the first such command in Plugin.load's order describes itself. A
    // command's own id comes first (it sorts before the ids it prefixes); a prefix that is no
    // command is described by the least of its commands by localeCompare, asked only when
    // they differ.
    for (const [name, t] of Object.entries(pjson.oclif.topics ?? {})) if (!this._topics.has(name)) this._topics.set(name, { ...t, name });
    const visible = all.filter((c) => !c.hidden);
    const implied = new Map<string, ManifestCommand[]>();
    for (const c of visible) {
      const parts = c.id.split(':');
      while (parts.length > 0) {
        const name = parts.join(':');
        if (name && !this._topics.has(name) && !implied.has(name)) implied.set(name, []);
        implied.get(name)?.push(c);
        parts.pop();
      }
    }
    const described = (c: ManifestCommand) => c.summary || c.description;
    for (const [name, cs] of implied) {
      const own = cs.find((c) => c.id === name);
      const first = own ?? (new Set(cs.map(described)).size === 1 ? cs[0] : [...cs].sort((a, b) => a.id.localeCompare(b.id))[0]);
      this._topics.set(name, { description: first && described(first), name });
    }
  }

  get commands(): ManifestCommand[] {
    return [...this._commands.values()];
  }
  get commandIDs(): string[] {
    return this.commands.map((c) => c.id);
  }
  get topics(): Topic[] {
    return [...this._topics.values()];
  }
  /** Only the shell of the user (win32 examples use it); unused on other platforms. */
  get shell(): string {
    const shell = process.env['SHELL'] ?? userInfo().shell?.split('/').pop();
    return shell ? (shell.split('/').at(-1) ?? 'unknown') : 'unknown';
  }
  findCommand(id: string): ManifestCommand | undefined {
    return this._commands.get(id);
  }
  findTopic(name: string): Topic | undefined {
    return this._topics.get(name);
  }
  scopedEnvVar(k: string): string | undefined {
    return process.env[[this.bin, k].map((p) => p.replace(/@/g, '').replace(/[/-]/g, '_')).join('_').toUpperCase()];
  }
  /** oclif's scopedEnvVarTrue. */
  scopedEnvVarTrue(k: string): boolean {
    const v = this.scopedEnvVar(k);
    return v === 'true' || v === '1';
  }
  /** Config.dir: XDG_<CATEGORY>_HOME or the home directory's default, with the CLI's dirname. */
  dir(category: 'config' | 'data'): string {
    const home = process.env['HOME'] || homedir() || tmpdir();
    const base = process.env[`XDG_${category.toUpperCase()}_HOME`] || join(home, category === 'data' ? '.local/share' : `.${category}`);
    return join(base, this.pjson.oclif.dirname ?? this.name);
  }
}

/**
 * oclif's Help, printing its lines at once: Help.log hands each to ux.stdout, which prints
 * `format(...args)` and a newline through console.log; here they are joined and written in one
 * write (the same bytes, without a console.log per line).
 */
class BufferedHelp extends Help {
  text = '';
  override log(...args: string[]): void {
    this.text += `${format(...args)}\n`;
  }
}

/** is-wsl's test (oclif's getPlatform answers `wsl` there, which changes the version line). */
function isWsl(): boolean {
  if (process.platform !== 'linux') return false;
  if (release().toLowerCase().includes('microsoft')) return true;
  try {
    if (readFileSync('/proc/version', 'utf8').toLowerCase().includes('microsoft')) return true;
  } catch {
    // no /proc: not WSL
  }
  return existsSync('/proc/sys/fs/binfmt_misc/WSLInterop') || existsSync('/run/WSL');
}

/** Whether the Config above is what Config.load would make here (see the top of the file). */
function canRender(config: HelpConfig, manifestVersion: string, commands: Record<string, ManifestCommand>): boolean {
  const { pjson } = config;
  if (Object.keys(pjson.oclif).some((k) => !KNOWN_OCLIF_KEYS.has(k))) return false;
  if (typeof pjson.oclif.commands !== 'string') return false;
  if (Object.values(pjson.oclif.topics ?? {}).some((t) => t.subtopics !== undefined)) return false;
  if (manifestVersion.split('-')[0] !== pjson.version.split('-')[0]) return false;
  if (Object.values(commands).some((c) => c.aliases?.length || c.hiddenAliases?.length || c.pluginType === 'jit')) return false;
  if (process.env['DEBUG'] || config.scopedEnvVarTrue('DEBUG')) return false;
  // A user's plugins (Config.loadUserPlugins) and theme (Config.loadTheme).
  if (existsSync(join(config.scopedEnvVar('DATA_DIR') || config.dir('data'), 'package.json'))) return false;
  if (!config.scopedEnvVarTrue('DISABLE_THEME') && existsSync(join(config.scopedEnvVar('CONFIG_DIR') || config.dir('config'), 'theme.json'))) return false;
  return !isWsl();
}

/** Help's getHelpSubject: the first word that is not a help flag. */
function helpSubject(argv: string[], helpFlags: string[]): string | undefined {
  for (const a of argv) {
    if (a === '--') return undefined;
    if (helpFlags.includes(a) || a === 'help') continue;
    if (a.startsWith('-')) return undefined;
    return a;
  }
  return undefined;
}

/**
 * Print the help this line asks for, as oclif would; false, having printed nothing, where oclif
 * must answer. `root` is tarscli's package directory.
 */
export async function runHelp(argv: readonly string[], root: string): Promise<boolean> {
  let pjson: PackageJson;
  let manifest: { version: string; commands: Record<string, ManifestCommand> };
  try {
    pjson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as PackageJson;
    manifest = JSON.parse(readFileSync(join(root, 'oclif.manifest.json'), 'utf8')) as typeof manifest;
  } catch {
    return false;
  }
  const config = new HelpConfig(root, pjson, manifest.commands);
  const plan = helpPlan([...argv], config);
  if (!plan || !canRender(config, manifest.version, manifest.commands)) return false;
  // oclif's Help is typed against its Config class; this object has every member Help reads.
  const help = new BufferedHelp(config as unknown as ConstructorParameters<typeof Help>[0], plan.options);
  await help.showHelp(plan.argv);
  // As on oclif's path: a reader that went away (`| head`) is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err && err.code === 'EPIPE') return;
    throw err;
  });
  process.stdout.write(help.text);
  return true;
}

/**
 * What oclif's main.run does with this line, where that is showing help: the Help options and
 * the argv handed to showHelp. Undefined for every other outcome (a command to run, the not-found
 * hook, `--version`, a help subject that is neither a command nor a topic, the help command
 * given flags).
 */
export function helpPlan(argv: string[], config: HelpConfig): { options: { all?: boolean }; argv: string[] } | undefined {
  const oclifConfig = config as unknown as Parameters<typeof normalizeArgv>[0];
  const helpFlags = [...new Set([...(config.pjson.oclif.additionalHelpFlags ?? []), '--help'])];
  const known = (id: string | undefined) => id === undefined || config.findCommand(id) !== undefined || config.findTopic(id) !== undefined;
  const [id, ...rest] = normalizeArgv(oclifConfig, [...argv]);
  // The init hook (src/hooks/not-found.ts) acts on an id that is neither a command nor a topic.
  if (id !== undefined && !id.startsWith('-') && !known(id)) return undefined;
  if (argv[0] === '--version') return undefined;
  /** A subject Help.showHelp would find (no dynamic help: that loads the command). */
  const shows = (helpArgv: string[]) => {
    const withoutFlags = helpArgv.filter((a) => !helpFlags.includes(a));
    const subject = helpSubject(standardizeIDFromArgv([...withoutFlags], oclifConfig), helpFlags);
    return known(subject) && !(subject !== undefined && config.findCommand(subject)?.hasDynamicHelp);
  };
  // main.run's helpAddition: no arguments, or a help flag before `--`.
  let helpFlag = argv.length === 0;
  for (const a of argv) {
    if (a === '--') break;
    if (helpFlags.includes(a)) {
      helpFlag = true;
      break;
    }
  }
  if (helpFlag) return shows(argv) ? { options: {}, argv } : undefined;
  if (id === undefined) return undefined;
  // The help command (@oclif/plugin-help): words only; its flags and `--` are oclif's to parse.
  if (id === 'help' && config.findCommand('help')?.pluginType === 'core') {
    if (rest.some((a) => a.startsWith('-'))) return undefined;
    return shows(rest) ? { options: { all: false }, argv: rest } : undefined;
  }
  // A topic named alone (with whatever follows it: main.run shows the topic's help).
  if (!config.findCommand(id) && config.findTopic(id)) return shows([id]) ? { options: {}, argv: [id] } : undefined;
  return undefined;
}
