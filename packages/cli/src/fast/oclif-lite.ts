/**
 * The part of @oclif/core that tarscli's commands use, for the fast start (src/fast/main.ts):
 * the bundle of dist/fast/ is built with `@oclif/core` aliased to this file, so a command runs
 * without loading oclif (some 420 KiB to parse) or its Config.load (package.json, manifest,
 * plugins, logger: about a third of a start-up).
 *
 * It implements the success path only. Anything whose outcome oclif decides (help, an unknown
 * or repeated flag, a missing or invalid value, `--`, a deprecated alias, more arguments than
 * declared…) throws `UseOclif` from `parse()`, before the command has done anything, and the
 * process goes on with oclif as before; so every message, exit code and warning of a parse is
 * still oclif's own.
 */
import { type as osType, release as osRelease, userInfo } from 'node:os';
import { basename } from 'node:path';
import { format, inspect } from 'node:util';

/** Thrown by `parse()`: oclif must handle this command line. */
export class UseOclif extends Error {
  constructor(readonly reason: string) {
    super(`tarscli fast start: ${reason}`);
  }
}

/** What `this.exit(code)` throws (oclif's ExitError); the fast runner exits with it. */
export class ExitSignal extends Error {
  readonly code = 'EEXIT';
  readonly oclif: { exit: number };
  constructor(exit: number) {
    super(`EEXIT: ${exit}`);
    this.oclif = { exit };
  }
}

/** The kinds implemented here; any other (Flags.file, Args.url…) makes parse() leave the line to oclif. */
type FlagKind = 'boolean' | 'string' | 'integer' | 'unsupported';
interface FlagDef {
  kind: FlagKind;
  type: 'boolean' | 'option';
  char?: string;
  default?: unknown;
  allowNo?: boolean;
  multiple?: boolean;
  options?: readonly string[];
  aliases?: string[];
  exclusive?: string[];
  required?: boolean;
  min?: number;
  max?: number;
  [k: string]: unknown;
}
interface ArgDef {
  kind: FlagKind;
  required?: boolean;
  min?: number;
  max?: number;
  options?: readonly string[];
  default?: unknown;
  [k: string]: unknown;
}

const flag = (kind: FlagKind) => (opts: Record<string, unknown> = {}): FlagDef => ({ ...opts, kind, type: kind === 'boolean' ? 'boolean' : 'option' });
const arg = (kind: FlagKind) => (opts: Record<string, unknown> = {}): ArgDef => ({ ...opts, kind });
/** A kind not listed still builds (so the command loads), as a definition parse() gives to oclif. */
const withOthers = <T extends object>(kinds: T, make: (kind: FlagKind) => unknown): T =>
  new Proxy(kinds, { get: (t, k) => (k in t ? t[k as keyof T] : typeof k === 'string' ? make('unsupported') : undefined) });
export const Flags = withOthers({ boolean: flag('boolean'), string: flag('string'), integer: flag('integer') }, flag);
export const Args = withOthers({ string: arg('string'), integer: arg('integer') }, arg);
/** Types only in the real module; an object here so that a kept import still resolves. */
export const Interfaces = {};

/** The facts about tarscli that commands read from `this.config`, without oclif's Config.load. */
export interface LiteConfig {
  root: string;
  name: string;
  version: string;
  bin: string;
}

export class Config {
  readonly root: string;
  readonly name: string;
  readonly version: string;
  readonly bin: string;
  readonly platform = process.platform;
  readonly arch = process.arch === 'ia32' ? 'x86' : process.arch;
  readonly windows = process.platform === 'win32';
  readonly theme = undefined;

  constructor(c: LiteConfig) {
    this.root = c.root;
    this.name = c.name;
    this.version = c.version;
    this.bin = c.bin;
  }

  get userAgent(): string {
    return `${this.name}/${this.version} ${this.platform}-${this.arch} node-${process.version}`;
  }

  /** oclif's versionDetails; tarscli has no plugins but itself (help and autocomplete are bundled). */
  get versionDetails() {
    const [cliVersion, architecture, nodeVersion] = this.userAgent.split(' ');
    return {
      architecture,
      cliVersion,
      nodeVersion,
      osVersion: `${osType()} ${osRelease()}`,
      pluginVersions: { [this.name]: { root: this.root, type: 'core', version: this.version } },
      rootPath: this.root,
      shell: shellName(),
    };
  }

  scopedEnvVarKey(k: string): string {
    return [this.bin, k].map((p) => p.replace(/@/g, '').replace(/[/-]/g, '_')).join('_').toUpperCase();
  }

  scopedEnvVar(k: string): string | undefined {
    return process.env[this.scopedEnvVarKey(k)];
  }
}

/** oclif's getShell() off Windows. */
function shellName(): string {
  const shell = process.env['SHELL'] ?? userInfo().shell?.split('/').pop();
  return shell ? (shell.split('/').at(-1) ?? 'unknown') : 'unknown';
}

const jsonFlag: FlagDef = Flags.boolean({ description: 'Format output as json.', helpGroup: 'GLOBAL' });

interface ParseOptions {
  flags?: Record<string, FlagDef>;
  baseFlags?: Record<string, FlagDef>;
  enableJsonFlag?: boolean;
  args?: Record<string, ArgDef>;
  strict?: boolean;
}

/** A flag's or argument's value as oclif gives it: one of its options, an integer in range. */
function typed(what: string, d: { kind: FlagKind; options?: readonly string[]; min?: number; max?: number }, raw: string): unknown {
  if (d.options && !d.options.includes(raw)) throw new UseOclif(`${what} ${raw} is not one of its options`);
  if (d.kind !== 'integer') return raw;
  if (!/^\d+$/.test(raw)) throw new UseOclif(`${what} ${raw} is not an integer`);
  const n = Number.parseInt(raw, 10);
  if ((d.min !== undefined && n < d.min) || (d.max !== undefined && n > d.max)) throw new UseOclif(`${what} ${raw} is out of range`);
  return n;
}

/**
 * oclif's Parser.parse for the command lines it accepts without a word: long flags (`--a b`,
 * `--a=b`, `--no-a`), one-letter flags (`-a`, `-a b`), arguments in order. The result has the
 * shape oclif gives: flags in definition order, defaults filled in, unset ones absent.
 */
type RawToken = { type: 'flag'; flag: string; input: string } | { type: 'arg'; arg: string | undefined; input: string };
export interface ParseResult {
  flags: Record<string, unknown>;
  args: Record<string, unknown>;
  argv: string[];
  /** The tokens in order, as oclif records them (`os kill` reads its task ids from them). */
  raw: RawToken[];
  metadata: { flags: Record<string, { setFromDefault?: boolean }> };
  nonExistentFlags: string[];
}

export function parseArgv(argv: readonly string[], options: ParseOptions): ParseResult {
  const defs: Record<string, FlagDef> = { ...(options.enableJsonFlag ? { json: jsonFlag } : {}), ...options.baseFlags, ...options.flags };
  const argDefs = Object.entries(options.args ?? {});
  for (const [name, d] of argDefs) if (d.kind === 'unsupported' || typeof d['parse'] === 'function') throw new UseOclif(`argument ${name} is of a kind oclif parses`);
  const byChar = new Map<string, string>();
  for (const [name, d] of Object.entries(defs)) {
    if (d.kind === 'unsupported') throw new UseOclif(`--${name} is of a kind oclif parses`);
    if (typeof d.default === 'function') throw new UseOclif(`--${name} has a computed default`);
    if (d.multiple) throw new UseOclif(`--${name} takes several values`);
    for (const k of ['parse', 'env', 'dependsOn', 'relationships', 'exactlyOne', 'atLeastOne', 'combinable', 'delimiter', 'charAliases']) if (d[k] !== undefined) throw new UseOclif(`--${name} has ${k}`);
    if (d.char) byChar.set(d.char, name);
  }
  const given = new Map<string, unknown>();
  const positional: string[] = [];
  const raw: RawToken[] = [];
  const set = (name: string, value: unknown, input: string) => {
    if (given.has(name)) throw new UseOclif(`--${name} given twice`);
    given.set(name, value);
    raw.push({ type: 'flag', flag: name, input });
  };
  const valueOf = (name: string, raw: string | undefined): unknown => {
    const d = defs[name] as FlagDef;
    if (raw === undefined || raw === '' || raw.startsWith('-')) throw new UseOclif(`--${name} without a plain value`);
    return typed(`--${name}`, d, raw);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--' || a === '-' || a === '--help' || a === '-h') throw new UseOclif(a);
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const key = eq === -1 ? a.slice(2) : a.slice(2, eq);
      const d = Object.hasOwn(defs, key) ? defs[key] : undefined;
      if (d) {
        if (d.kind === 'boolean') {
          if (eq !== -1) throw new UseOclif(`--${key}=`);
          set(key, true, a);
        } else {
          const input = eq === -1 ? argv[++i] : a.slice(eq + 1);
          set(key, valueOf(key, input), input as string);
        }
        continue;
      }
      const negated = key.startsWith('no-') ? key.slice(3) : undefined;
      const nd = negated !== undefined && Object.hasOwn(defs, negated) ? defs[negated] : undefined;
      if (nd && nd.kind === 'boolean' && nd.allowNo && eq === -1) {
        set(negated as string, false, a);
        continue;
      }
      throw new UseOclif(`${a} is not one of the flags`);
    }
    if (a.startsWith('-')) {
      const name = a.length === 2 ? byChar.get(a[1] as string) : undefined;
      if (!name) throw new UseOclif(`${a} is not one of the flags`);
      const d = defs[name] as FlagDef;
      if (d.kind === 'boolean') set(name, true, a);
      else {
        const input = argv[++i];
        set(name, valueOf(name, input), input as string);
      }
      continue;
    }
    raw.push({ type: 'arg', arg: argDefs[positional.length]?.[0], input: a });
    positional.push(a);
  }
  if (positional.length > argDefs.length && options.strict !== false) throw new UseOclif('more arguments than declared');
  if (positional.length > argDefs.length) throw new UseOclif('extra arguments');

  const flags: Record<string, unknown> = {};
  const metadata: ParseResult['metadata'] = { flags: {} };
  for (const [name, d] of Object.entries(defs)) {
    if (given.has(name)) flags[name] = given.get(name);
    else if (d.required) throw new UseOclif(`--${name} is required`);
    else if (d.default !== undefined) {
      flags[name] = d.default;
      metadata.flags[name] = { setFromDefault: true };
    }
  }
  for (const [name, d] of Object.entries(defs)) {
    if (!given.has(name)) continue;
    for (const other of d.exclusive ?? []) if (given.has(other)) throw new UseOclif(`--${name} with --${other}`);
  }
  const args: Record<string, unknown> = {};
  argDefs.forEach(([name, d], i) => {
    const v = positional[i];
    if (v === undefined) {
      if (d.required) throw new UseOclif(`argument ${name} is required`);
      if (d.default !== undefined) {
        if (typeof d.default === 'function') throw new UseOclif(`argument ${name} has a computed default`);
        args[name] = d.default;
      }
      return;
    }
    args[name] = typed(`argument ${name}`, d, v);
  });
  return { flags, args, argv: positional, raw, metadata, nonExistentFlags: [] };
}

type CommandClass = typeof Command;

/** oclif's Command, as far as tarscli's commands and base command use it. */
export abstract class Command {
  static id: string | undefined;
  static summary?: string;
  static description?: string;
  static examples?: string[];
  static flags: Record<string, FlagDef> = {};
  static baseFlags: Record<string, FlagDef> = {};
  static args: Record<string, ArgDef> = {};
  static strict = true;
  static enableJsonFlag = false;
  static hidden = false;
  static aliases: string[] = [];

  id: string | undefined;
  parsed = false;

  constructor(
    public argv: string[],
    public config: Config,
  ) {
    this.id = this.ctor.id;
  }

  get ctor(): CommandClass {
    return this.constructor as CommandClass;
  }

  abstract run(): Promise<unknown>;

  /** Command.run's middle: init, run, catch, finally, the JSON of the result. */
  async _run(): Promise<unknown> {
    let err: Error | undefined;
    let result: unknown;
    try {
      delete process.env[this.config.scopedEnvVarKey('REDIRECTED')];
      await this.init();
      result = await this.run();
    } catch (error) {
      err = error as Error;
      if (error instanceof UseOclif) {
        await this.finally(err);
        throw error;
      }
      await this.catch(error as Error);
    } finally {
      if (!(err instanceof UseOclif)) await this.finally(err);
    }
    if (result && this.jsonEnabled()) this.logJson(this.toSuccessJson(result));
    return result;
  }

  async init(): Promise<void> {
    const g = globalThis as { 'http-call'?: { userAgent?: string } };
    g['http-call'] = g['http-call'] ?? {};
    g['http-call'].userAgent = this.config.userAgent;
  }

  async parse(options?: ParseOptions, argv: string[] = this.argv): Promise<ParseResult> {
    let r: ParseResult;
    try {
      r = parseArgv(argv, options ?? (this.ctor as ParseOptions));
    } catch (error) {
      // Handing the line to oclif now would run the command a second time.
      if (error instanceof UseOclif && this.parsed) throw new Error(`${error.message}, in a second parse after the command started`);
      throw error;
    }
    this.parsed = true;
    return r;
  }

  jsonEnabled(): boolean {
    if (!this.ctor.enableJsonFlag) return false;
    if (this.config.scopedEnvVar('CONTENT_TYPE')?.toLowerCase() === 'json') return true;
    const passThroughIndex = this.argv.indexOf('--');
    const jsonIndex = this.argv.indexOf('--json');
    return passThroughIndex === -1 ? jsonIndex !== -1 : jsonIndex !== -1 && jsonIndex < passThroughIndex;
  }

  log(message: unknown = '', ...args: unknown[]): void {
    if (this.jsonEnabled()) return;
    const text = typeof message === 'string' ? message : inspect(message);
    // oclif's ux.stdout
    console.log(text ? format(text, ...args) : format(...args));
  }

  /** oclif colours this JSON by its theme; tarscli's base command prints its own. */
  logJson(_json: unknown): void {
    throw new UseOclif('oclif prints this JSON');
  }

  toSuccessJson(result: unknown): unknown {
    return result;
  }

  toErrorJson(err: unknown): unknown {
    return err instanceof Error ? { error: { ...err, message: err.message, name: err.name } } : { error: err };
  }

  /** oclif's: the JSON error under --json, otherwise the error goes on to oclif's handler. */
  async catch(err: Error & { exitCode?: number }): Promise<void> {
    process.exitCode = process.exitCode ?? err.exitCode ?? 1;
    if (this.jsonEnabled()) this.logJson(this.toErrorJson(err));
    else throw err;
  }

  exit(code = 0): never {
    throw new ExitSignal(code);
  }

  async finally(_err: Error | undefined): Promise<void> {}
}
