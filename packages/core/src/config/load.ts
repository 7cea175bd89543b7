/**
 * Load the TARS config once: file (cosmiconfig) < env (TARS_*) < flags, validated by zod.
 * Every problem is reported at once as `<file> [a.b.c]: message (got: …)`.
 */
import { readFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { locateJsonError, type JsonErrorLocation } from './json-error.js';
import { closest, distance } from 'fastest-levenshtein';
import { z, type ZodIssue } from 'zod';
import { AbortError } from '../errors.js';
import { outputDebug } from '../output.js';
import { configSchema, defaultConfig, type TarsConfig } from './schema.js';
import { CONFIG_SEARCH_PLACES, searchConfigFile } from './root.js';

export const CONFIG_MODULE = 'tars';


export type ValueSource = { kind: 'default' } | { kind: 'file'; file: string } | { kind: 'env'; name: string } | { kind: 'flag' };

export interface LoadedConfig {
  config: TarsConfig;
  /** Absolute path of the config file, when one was found. */
  filepath: string | undefined;
  /** The project root: the config file's directory, else the search start. */
  root: string;
  /** Dotted leaf path → where its value came from. */
  sources: Record<string, ValueSource>;
}

export interface LoadConfigOptions {
  cwd?: string;
  /** Load exactly this file instead of searching. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Dotted path → value, from command-line flags (highest precedence). */
  overrides?: Record<string, unknown>;
  /** Stop the upward search here (defaults to the filesystem root). */
  stopDir?: string;
  /** No config file found is an error (CONFIG_NOT_FOUND) instead of an all-defaults config. */
  requireFile?: boolean;
}

/** What a user outside a project is told to do. */
export const START_PROJECT_HINT = 'Run tarscli inside a TARS project (a directory with tars.config.json, or below one), or start one: `tarscli init my-os`.';

type Json = Record<string, unknown>;

function isPlainObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Leaves of an object as dotted paths; arrays count as leaves. */
export function leafPaths(obj: Json, prefix = ''): string[] {
  return Object.entries(obj).flatMap(([k, v]) =>
    isPlainObject(v) ? leafPaths(v, `${prefix}${k}.`) : [`${prefix}${k}`],
  );
}

export function getPath(obj: unknown, path: (string | number)[]): unknown {
  let cur: unknown = obj;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[key];
  }
  return cur;
}

function setPath(obj: Json, dotted: string, value: unknown): void {
  const keys = dotted.split('.');
  let cur: Json = obj;
  for (const key of keys.slice(0, -1)) {
    if (!isPlainObject(cur[key])) cur[key] = {};
    cur = cur[key] as Json;
  }
  cur[keys[keys.length - 1] as string] = value;
}

function hasPath(obj: unknown, dotted: string): boolean {
  const keys = dotted.split('.');
  let cur: unknown = obj;
  for (const key of keys) {
    if (!isPlainObject(cur) || !(key in cur)) return false;
    cur = cur[key];
  }
  return true;
}

/** `cache.maxSizeMb` → `TARS_CACHE_MAX_SIZE_MB`. */
export function envNameFor(dotted: string): string {
  return `TARS_${dotted
    .split('.')
    .map((k) => k.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase())
    .join('_')}`;
}

function coerceEnv(raw: string, like: unknown): unknown {
  if (typeof like === 'number') {
    const n = Number(raw);
    return raw.trim() !== '' && Number.isFinite(n) ? n : raw;
  }
  if (typeof like === 'boolean') {
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    return raw;
  }
  return raw;
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** The keys a config object accepts at `path` (array indexes step into the element). */
export function knownKeysAt(path: (string | number)[]): string[] {
  let t: z.ZodTypeAny = configSchema;
  const unwrap = (x: z.ZodTypeAny): z.ZodTypeAny => {
    for (;;) {
      if (x instanceof z.ZodDefault) x = x._def.innerType;
      else if (x instanceof z.ZodOptional || x instanceof z.ZodNullable) x = x.unwrap();
      else if (x instanceof z.ZodEffects) x = x.innerType();
      else return x;
    }
  };
  for (const key of path) {
    t = unwrap(t);
    if (t instanceof z.ZodObject && typeof key === 'string') t = (t.shape as Record<string, z.ZodTypeAny>)[key] ?? z.never();
    else if (t instanceof z.ZodArray) t = t.element;
    else return [];
  }
  t = unwrap(t);
  return t instanceof z.ZodObject ? Object.keys(t.shape as object) : [];
}

/** The known key a typo most likely meant, when one is close enough. */
export function suggestKey(key: string, known: string[]): string | undefined {
  if (known.length === 0) return undefined;
  const best = closest(key.toLowerCase(), known.map((k) => k.toLowerCase()));
  const match = known.find((k) => k.toLowerCase() === best);
  return match && distance(key.toLowerCase(), best) <= Math.max(2, Math.floor(key.length / 3)) ? match : undefined;
}

function issueToLines(issue: ZodIssue, input: unknown, where: (path: string) => string): string[] {
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeysAt(issue.path);
    return issue.keys.map((key) => {
      const path = [...issue.path, key].join('.');
      const guess = suggestKey(key, known);
      const hint = guess ? `did you mean "${guess}"?` : `allowed here: ${known.join(', ')}`;
      return `${where(path)} [${path}]: unknown key (${hint})`;
    });
  }
  const path = issue.path.join('.');
  const got = describeValue(getPath(input, issue.path));
  let message = issue.message;
  if (issue.code === 'invalid_type') message = `expected ${issue.expected}`;
  if (issue.code === 'invalid_enum_value') message = `expected one of ${issue.options.map((o) => String(o)).join(', ')}`;
  return [`${where(path)} [${path || '(root)'}]: ${message} (got: ${got})`];
}

/**
 * cosmiconfig, for what only it reads: JavaScript, TypeScript and YAML configs (.tarsrc is YAML
 * to it), and its global places (~/.config/tars/…) when the walk found nothing. It is loaded
 * only then: a JSON config, the common case, is read here, and a command does not parse
 * cosmiconfig and its JSON error printer at every start.
 */
async function explorer(stopDir: string | undefined) {
  // CommonJS: its exports are the default export under Node's ESM and in the bundle alike.
  const { cosmiconfig } = (await import('cosmiconfig')).default;
  return cosmiconfig(CONFIG_MODULE, {
    searchPlaces: CONFIG_SEARCH_PLACES,
    searchStrategy: 'global',
    // An empty tars.config.json is a mistake to report, not a place to skip (it was reported as
    // "No TARS config found" although the file is there).
    ignoreEmptySearchPlaces: false,
    ...(stopDir ? { stopDir } : {}),
    cache: false,
  });
}

/** One config file, as cosmiconfig's load would give it (a JSON file parsed here; see `explorer`). */
async function loadConfigFile(file: string, stopDir: string | undefined): Promise<{ config: unknown; filepath: string; isEmpty?: boolean } | null> {
  const name = basename(file);
  if (!name.endsWith('.json')) return (await explorer(stopDir)).load(file);
  const text = readFileSync(file, 'utf8');
  if (text.trim() === '') return { config: undefined, filepath: file, isEmpty: true };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw Object.assign(err as Error, { filepath: file });
  }
  if (name !== 'package.json') return { config: value, filepath: file };
  const tars = (value as Record<string, unknown> | null)?.[CONFIG_MODULE];
  return tars === undefined ? null : { config: tars, filepath: file };
}

export async function loadConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  // The same walk cosmiconfig makes, which also refuses a place it would skip silently.
  const searched = options.file ? undefined : searchConfigFile(cwd, options.stopDir);
  let found: { config: unknown; filepath: string; isEmpty?: boolean } | null;
  try {
    if (options.file) found = await loadConfigFile(resolve(cwd, options.file), options.stopDir);
    else if (searched?.file) found = await loadConfigFile(searched.file, options.stopDir);
    else found = await (await explorer(options.stopDir)).search(cwd);
  } catch (err) {
    const file = options.file ?? (err as { filepath?: string }).filepath ?? 'config';
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new AbortError(`${file}: config file not found`, { code: 'CONFIG_NOT_FOUND', tryMessage: START_PROJECT_HINT });
    }
    const label = relative(cwd, file) || file;
    const at = jsonErrorAt(file);
    throw new AbortError(at ? `${label}:${at.line}:${at.column}: cannot be parsed: ${at.message}` : `${label}: cannot be parsed: ${syntaxErrorDetail(file, err)}`, {
      code: 'CONFIG_INVALID',
      tryMessage: 'Fix the syntax at that line and column (JSON allows no comments and no trailing commas); editors check tars.config.json against its $schema.',
    });
  }
  if (!found && options.requireFile) {
    throw new AbortError(`No TARS config found in ${cwd} or any directory above it`, { code: 'CONFIG_NOT_FOUND', tryMessage: START_PROJECT_HINT });
  }
  outputDebug(found ? `config: ${found.filepath}` : `config: none found from ${cwd}; using defaults`);
  if (found?.isEmpty) {
    const label = relative(cwd, found.filepath) || found.filepath;
    throw new AbortError(`${label}: the file is empty`, {
      code: 'CONFIG_INVALID',
      tryMessage: 'Write a config object into it (at least `{}`), or run `tarscli init` for a starting point.',
    });
  }

  const fileValue: unknown = found?.isEmpty ? {} : (found?.config ?? {});
  const filepath = found?.filepath;
  const root = filepath ? filepath.slice(0, filepath.lastIndexOf('/')) || '/' : cwd;
  const fileLabel = filepath ? relative(cwd, filepath) || filepath : '(defaults)';

  if (!isPlainObject(fileValue)) {
    throw new AbortError(`${fileLabel} [(root)]: expected an object (got: ${describeValue(fileValue)})`, {
      code: 'CONFIG_INVALID',
    });
  }

  const merged: Json = structuredClone(fileValue);
  const defaults = defaultConfig() as unknown as Json;
  const fromEnv = new Map<string, string>();
  for (const leaf of leafPaths(defaults)) {
    const name = envNameFor(leaf);
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    setPath(merged, leaf, coerceEnv(raw, getPath(defaults, leaf.split('.'))));
    fromEnv.set(leaf, name);
  }
  const fromFlags = new Set<string>();
  for (const [path, value] of Object.entries(options.overrides ?? {})) {
    if (value === undefined) continue;
    setPath(merged, path, value);
    fromFlags.add(path);
  }

  const where = (path: string): string => {
    for (const candidate of [...fromFlags]) if (path === candidate || path.startsWith(`${candidate}.`)) return 'flag';
    for (const [leaf, name] of fromEnv) if (path === leaf || path.startsWith(`${leaf}.`)) return `env ${name}`;
    return fileLabel;
  };

  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const lines = parsed.error.issues.flatMap((i) => issueToLines(i, merged, where));
    throw new AbortError(lines.join('\n'), {
      code: 'CONFIG_INVALID',
      tryMessage: 'Fix the keys above; `tarscli config show` prints the resolved config.',
    });
  }

  const sources: Record<string, ValueSource> = {};
  for (const leaf of leafPaths(parsed.data as unknown as Json)) {
    if (fromFlags.has(leaf)) sources[leaf] = { kind: 'flag' };
    else if (fromEnv.has(leaf)) sources[leaf] = { kind: 'env', name: fromEnv.get(leaf) as string };
    else if (filepath && hasPath(fileValue, leaf)) sources[leaf] = { kind: 'file', file: filepath };
    else sources[leaf] = { kind: 'default' };
  }
  return { config: parsed.data, filepath, root, sources };
}

/** For a JSON config (tars.config.json, .tarsrc) that does not parse: where and why, in one line. */
function jsonErrorAt(file: string): JsonErrorLocation | undefined {
  const name = basename(file);
  if (!(name.endsWith('.json') || name === '.tarsrc')) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  // .tarsrc may be YAML: only a text that looks like JSON is judged as JSON.
  if (name === '.tarsrc' && !/^\s*[{[]/.test(text)) return undefined;
  return locateJsonError(text);
}

/** The parser's reason with a line and column, for a config file that is not valid JSON/YAML/JS. */
export function syntaxErrorDetail(file: string, err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // fall through to the parser's own message
  }
  const name = basename(file);
  if (text !== undefined && (name.endsWith('.json') || name === '.tarsrc')) {
    try {
      JSON.parse(text);
    } catch (e) {
      const m = /^(.*?)(?: in JSON)? at position (\d+)/s.exec((e as Error).message);
      if (m) {
        const pos = Number(m[2]);
        const before = text.slice(0, pos).split('\n');
        return `${m[1]} at line ${before.length} column ${(before[before.length - 1]?.length ?? 0) + 1}`;
      }
      if (/end of JSON input/.test((e as Error).message)) {
        const lines = text.split('\n');
        return `unexpected end of the file at line ${lines.length} column ${(lines[lines.length - 1]?.length ?? 0) + 1}`;
      }
      return (e as Error).message;
    }
  }
  // YAML and JS loaders already name the line; keep their whole message on one line.
  return message.replace(/^(JSON|YAML) Error in [^\n]*:\s*/, '').replace(/\s*\n\s*/g, ' ').trim();
}

export function describeSource(source: ValueSource, cwd = process.cwd()): string {
  switch (source.kind) {
    case 'default':
      return 'default';
    case 'flag':
      return 'flag';
    case 'env':
      return `env ${source.name}`;
    case 'file':
      return relative(cwd, source.file) || source.file;
  }
}
