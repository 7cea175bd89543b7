// build (after tsc): bundle tarscli with esbuild so that a start-up reads a few files instead of
// resolving and loading some 300 modules one by one.
//
// - One ESM entry per command (dist/commands/**, where oclif's manifest points) and one for the
//   init hook, plus dist/main.js (oclif's execute, which bin/run.js imports). Code they share
//   (@oclif/core, the base command, the kit) lands in shared chunks under dist/chunks/, loaded
//   once, so a command loads only what it reaches.
// - `help` and `autocomplete` are bundled in as tarscli's own commands (the classes of
//   @oclif/plugin-help and -autocomplete; `version` is src/commands/version.ts, plugin-version's
//   output with a description), and plugin-not-found's did-you-mean as its
//   command_not_found hook: loaded as oclif plugins they cost a plugin search and four manifests
//   at every start, and a second, unbundled @oclif/core whenever one of their commands ran.
// - What a command imports only inside a call (`await import(...)`: listr2, execa, Octokit, the
//   chart renderer) becomes a chunk of its own, read only when that call runs.
// - @oclif/core is CommonJS whose modules require all their dependencies at the top (globbing,
//   semver, templates, help rendering, spinners…), so loading it evaluated most of it before any
//   command ran. In the bundle its top-level `const x_1 = require("…")` become lazy: a module
//   is evaluated the first time one of its members is read (what Babel's commonjs `lazy` option
//   does). oclif reads those bindings only as `x_1.member`, which the lazy binding forwards.
//   Its third-party dependencies (ejs, minimatch, semver, tinyglobby, wrap-ansi…) stay out of the
//   bundle: they are required from @oclif/core's own place in node_modules (so each gets the
//   version oclif declares) when first used, and are not parsed at every start.
// - Native modules (and dockerode, which reaches them) stay in node_modules.
import { build, transform } from 'esbuild';
import { readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { STRING_WIDTH_ASCII } from './string-width-ascii.mjs';

const BUILTINS = new Set(builtinModules);
/**
 * oclif's dependencies that every run reaches (its logger, its theme, loading a command) or that
 * render help (`--help` is a command like the others: its wrapping and templates are bundled).
 */
const EVERY_RUN = new Set(['debug', 'supports-color', 'ansis', 'get-package-type', '@oclif/core/package.json', 'ejs', 'wrap-ansi', 'indent-string', 'widest-line', 'string-width']);
const pkg = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(join(pkg, 'package.json'));

/** The lib/ directory of an oclif plugin (their exports map hides the command files). */
const pluginLib = (name) => dirname(require.resolve(name));

function commandEntries(dir, base = dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return commandEntries(p, base);
    if (!f.endsWith('.ts') || f.endsWith('.test.ts') || f.endsWith('.d.ts')) return [];
    return [{ in: p, out: join('commands', relative(base, p)).replace(/\.ts$/, '') }];
  });
}

const LAZY_HELPER = `function __tarsOclifRequire(id) {
  globalThis.__tarsOclifRequire ??= require('node:module').createRequire(require.resolve('@oclif/core'));
  return globalThis.__tarsOclifRequire(id);
}
function __tarsLazy(load) {
  let m;
  const get = () => (m ??= load());
  return new Proxy({}, { get: (_, k) => get()[k], has: (_, k) => k in get() });
}
`;

/** esbuild plugin: @oclif/core's top-level requires, evaluated on first use (see above). */
const lazyOclifRequires = {
  name: 'lazy-oclif-requires',
  setup(b) {
    b.onLoad({ filter: /[\\/]@oclif[\\/]core[\\/]lib[\\/].*\.js$/ }, async (args) => {
      const { readFile } = await import('node:fs/promises');
      let text = await readFile(args.path, 'utf8');
      let n = 0;
      // `const x_1 = require("m");`, `var x_1 = require("m");` (re-exports read through getters),
      // with or without tslib's __importDefault/__importStar around the require.
      text = text.replace(/^(?:const|var) (\w+_\d+) = ((?:__importDefault|__importStar)\()?require\(("[^"]+")\)(\))?;$/gm, (_, name, wrap = '', mod, close = '') => {
        n++;
        return `const ${name} = __tarsLazy(() => ${wrap}require(${mod})${close});`;
      });
      // Bare specifiers (not Node's own modules): from oclif's node_modules, not the bundle.
      text = text.replace(/\brequire\((["'])(?!\.|node:)([^"']+)\1\)/g, (m, q, id) => (BUILTINS.has(id) || EVERY_RUN.has(id) ? m : (n++, `__tarsOclifRequire("${id}")`)));
      // index.js: `exports.Flags = __importStar(require("./flags"));` as a getter, evaluated once.
      text = text.replace(/^exports\.(\w+) = __importStar\(require\(("[^"]+")\)\);$/gm, (_, name, mod) => {
        n++;
        return `let __tarsNs_${name}; Object.defineProperty(exports, "${name}", { enumerable: true, get: () => (__tarsNs_${name} ??= __importStar(require(${mod}))) });`;
      });
      return { contents: n ? `${LAZY_HELPER}${text}` : text, loader: 'js' };
    });
  },
};

/**
 * esbuild plugin: `import { a, b } from '@tars/deploy'` becomes imports from the files that
 * define `a` and `b`. Code splitting follows files, not exports: through a package's barrel
 * (its index, `export * from` every module) each command reached every module of the package —
 * `os ps` read the deployers' image-builder, the trace exporters, the hyperlight client, and zod
 * with cosmiconfig through the config loader. The map name → file is read from each barrel once
 * (the modules' runtime exports: no work at import time is the kit's rule). Names not found are
 * types, which esbuild drops from TypeScript.
 */
const TARS_PACKAGES = ['core', 'deploy', 'image-builder', 'release', 'gpu-modules', 'dotnet-interop'];
const barrelMaps = new Map();
async function barrelMap(name) {
  if (barrelMaps.has(name)) return barrelMaps.get(name);
  const map = new Map();
  barrelMaps.set(name, map);
  const dir = join(pkg, '..', name, 'dist');
  const { readFile } = await import('node:fs/promises');
  const { pathToFileURL } = await import('node:url');
  const index = await readFile(join(dir, 'index.js'), 'utf8').catch(() => '');
  for (const m of index.matchAll(/^export \* from ['"](\.[^'"]+)['"];$/gm)) {
    const file = join(dir, m[1]);
    for (const k of Object.keys(await import(pathToFileURL(file).href))) if (!map.has(k)) map.set(k, file);
  }
  for (const m of index.matchAll(/^export \{([^}]*)\} from ['"](\.[^'"]+)['"];$/gm)) {
    for (const spec of m[1].split(',').map((x) => x.trim()).filter(Boolean)) {
      const [, exported = spec] = spec.split(/\s+as\s+/);
      if (!map.has(exported)) map.set(exported, join(dir, m[2]));
    }
  }
  return map;
}
/** `import { … } from '@tars/x'`, `export { … } from '@tars/x'`, `const { … } = await import('@tars/x')`. */
const FROM_BARREL = /(import|export)\s*\{([^}]*)\}\s*from\s*['"]@tars\/([a-z-]+)['"];?|const\s*\{([^}]*)\}\s*=\s*await import\(\s*['"]@tars\/([a-z-]+)['"]\s*\);?/g;
const barrelImports = {
  name: 'barrel-imports',
  setup(b) {
    b.onLoad({ filter: /[\\/]packages[\\/][a-z-]+[\\/](src|dist)[\\/].*\.(ts|js)$/, namespace: 'file' }, async (args) => {
      const { readFile } = await import('node:fs/promises');
      const text = await readFile(args.path, 'utf8');
      if (!/['"]@tars\//.test(text)) return undefined;
      const loader = args.path.endsWith('.ts') ? 'ts' : 'js';
      let out = '';
      let last = 0;
      for (const m of text.matchAll(FROM_BARREL)) {
        const dynamic = m[4] !== undefined;
        const name = dynamic ? m[5] : m[3];
        if (!TARS_PACKAGES.includes(name)) continue;
        const map = await barrelMap(name);
        const byFile = new Map();
        const rest = [];
        for (const spec of (dynamic ? m[4] : m[2]).split(',').map((x) => x.trim()).filter(Boolean)) {
          if (spec.startsWith('type ')) continue;
          const [imported] = spec.split(dynamic ? /\s*:\s*/ : /\s+as\s+/);
          const file = map.get(imported);
          if (!file) rest.push(spec);
          else byFile.set(file, [...(byFile.get(file) ?? []), spec]);
        }
        let replacement;
        if (dynamic) {
          // Unknown names stay on the barrel (a whole-package chunk, read when the call runs).
          const sources = [...byFile.keys()].map((f) => JSON.stringify(f));
          if (rest.length) sources.push(`'@tars/${name}'`);
          replacement = `const {${m[4]}} = Object.assign({}, ...(await Promise.all([${sources.map((s) => `import(${s})`).join(', ')}])));`;
        } else {
          const lines = [...byFile].map(([file, specs]) => `${m[1]} { ${specs.join(', ')} } from ${JSON.stringify(file)};`);
          if (rest.length) lines.push(`${m[1]} { ${rest.join(', ')} } from '@tars/${name}';`);
          replacement = lines.join(' ');
        }
        out += text.slice(last, m.index) + replacement;
        last = m.index + m[0].length;
      }
      return { contents: out + text.slice(last), loader, resolveDir: dirname(args.path) };
    });
  },
};

/**
 * esbuild plugin: oclif renders every summary, description and example through ejs (help, the
 * README) though tarscli's only template is `<%= config.bin %>`; ejs compiles each string into a
 * function (`new Function`) first, some 10 ms of a root `--help`. In the bundle, `ejs` is a module
 * that fills in `<%= a.b %>` and `<%- a.b %>` itself (escaped as ejs escapes) and hands any other
 * template to the real ejs, required when first needed.
 */
const EJS_SHIM = `const SIMPLE = /<%([=-])\\s*([A-Za-z_$][\\w$]*(?:\\.[A-Za-z_$][\\w$]*)*)\\s*%>/g;
const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' };
let real;
const ejs = () => (real ??= globalThis.__tarsOclifRequire ? globalThis.__tarsOclifRequire('ejs') : require('node:module').createRequire(require.resolve('@oclif/core'))('ejs'));
function render(template, data = {}, options) {
  if (typeof template !== 'string' || options !== undefined) return ejs().render(template, data, options);
  if (!template.includes('<%')) return template;
  if (template.replace(SIMPLE, '').includes('<%')) return ejs().render(template, data);
  return template.replace(SIMPLE, (_, kind, path) => {
    const keys = path.split('.');
    if (!(keys[0] in data)) return ejs().render(template, data); // ejs: a ReferenceError
    let v = data;
    for (const k of keys) v = v == null ? undefined : v[k];
    const text = v == null ? '' : String(v);
    return kind === '-' ? text : text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
  });
}
module.exports = { render, get compile() { return ejs().compile; }, get renderFile() { return ejs().renderFile; } };
`;
const ejsShim = {
  name: 'ejs-shim',
  setup(b) {
    b.onResolve({ filter: /^ejs$/ }, () => ({ path: 'ejs', namespace: 'tars-ejs' }));
    b.onLoad({ filter: /.*/, namespace: 'tars-ejs' }, () => ({ contents: EJS_SHIM, loader: 'js', resolveDir: pkg }));
  },
};

/**
 * esbuild plugin: zod 3's ZodType constructor binds 24 of its methods (parse, safeParse,
 * optional, default, …) to every schema it builds, so that `const { parse } = schema` works
 * detached. The config schema alone is some 190 schemas: 4,500 bound functions made at every
 * start, each a property added to its schema, almost none of them ever read. In the bundle a
 * getter on ZodType.prototype binds the method when it is read instead, so a detached
 * `schema.parse` still works (a method call binds too: one bind per call where zod made 24 per
 * schema). No subclass overrides these methods (checked here: the build fails if zod's source
 * no longer has the lines this expects).
 */
const ZOD_BOUND = ['parse', 'safeParse', 'parseAsync', 'safeParseAsync', 'spa', 'refine', 'refinement', 'superRefine', 'optional', 'nullable', 'nullish', 'array', 'promise', 'or', 'and', 'transform', 'brand', 'default', 'catch', 'describe', 'pipe', 'readonly', 'isNullable', 'isOptional'];
const zodLazyBinds = {
  name: 'zod-lazy-binds',
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v3[\\/]types\.js$/ }, async (args) => {
      const { readFile } = await import('node:fs/promises');
      let text = await readFile(args.path, 'utf8');
      const found = [];
      text = text.replace(/^\s*this\.(\w+) = this\.\1\.bind\(this\);\n/gm, (_, name) => (found.push(name), ''));
      const alias = '        /** Alias of safeParseAsync */\n        this.spa = this.safeParseAsync;\n';
      // Each method defined once in the file (on ZodType): no subclass has its own.
      const overridden = ZOD_BOUND.filter((k) => k !== 'spa' && (text.match(new RegExp(`^    (?:async )?${k}\\(`, 'gm')) ?? []).length !== 1);
      if (found.join() !== ZOD_BOUND.join() || !text.includes(alias) || overridden.length) {
        throw new Error(`zod-lazy-binds: ${args.path} is not the zod 3 this plugin knows (bound: ${found.join(', ')}; overridden: ${overridden.join(', ')})`);
      }
      text = text.replace(alias, '');
      text += `
// Every method read before any becomes a getter (spa is safeParseAsync).
const __tarsMethods = ${JSON.stringify(ZOD_BOUND)}.map((name) => [name, ZodType.prototype[name === 'spa' ? 'safeParseAsync' : name]]);
for (const [name, method] of __tarsMethods) {
  Object.defineProperty(ZodType.prototype, name, {
    configurable: true,
    get() {
      return method.bind(this);
    },
    set(value) {
      Object.defineProperty(this, name, { value, writable: true, enumerable: true, configurable: true });
    },
  });
}
`;
      return { contents: text, loader: 'js' };
    });
  },
};

const entryPoints = [
  { in: join(pkg, 'src/main.ts'), out: 'main' },
  { in: join(pkg, 'src/hooks/not-found.ts'), out: 'hooks/not-found' },
  { in: pluginLib('@oclif/plugin-not-found'), out: 'hooks/command-not-found' },
  ...commandEntries(join(pkg, 'src/commands')),
  { in: join(pluginLib('@oclif/plugin-help'), 'commands/help.js'), out: 'commands/help' },
  ...['index', 'create', 'script'].map((c) => ({ in: join(pluginLib('@oclif/plugin-autocomplete'), `commands/autocomplete/${c}.js`), out: `commands/autocomplete/${c}` })),
];

// The tsc output of the same files is replaced; stale chunks of an earlier build are removed.
rmSync(join(pkg, 'dist/chunks'), { recursive: true, force: true });

/**
 * esbuild plugin: oclif's logger makes a `debug` logger per namespace, and the debug package
 * looks at stderr (is it a terminal, which colours) as it loads: stderr's stream and the tty
 * module built at every start for loggers that print only under DEBUG. In the bundle, `debug`
 * hands out silent loggers unless DEBUG is set when tarscli starts (debug reads it then too),
 * and the real package otherwise.
 */
const DEBUG_SHIM = `let real;
const load = () => (real ??= require('node:module').createRequire(require.resolve('@oclif/core'))('debug'));
function silent(namespace) {
  const log = () => {};
  return Object.assign(log, { enabled: false, namespace, log, destroy: () => true, extend: (ns, delimiter = ':') => silent(namespace + delimiter + ns) });
}
function createDebug(namespace) {
  return process.env.DEBUG ? load()(namespace) : silent(namespace);
}
createDebug.enable = (namespaces) => load().enable(namespaces);
createDebug.disable = () => (process.env.DEBUG || real ? load().disable() : '');
createDebug.enabled = (namespace) => (process.env.DEBUG || real ? load().enabled(namespace) : false);
module.exports = createDebug;
`;
const debugShim = {
  name: 'debug-shim',
  setup(b) {
    b.onResolve({ filter: /^debug$/ }, () => ({ path: 'debug', namespace: 'tars-debug' }));
    b.onLoad({ filter: /.*/, namespace: 'tars-debug' }, () => ({ contents: DEBUG_SHIM, loader: 'js', resolveDir: pkg }));
  },
};

/** What both builds share: ESM chunks split by what each entry reaches, for this Node. */
const SHARED = {
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  mainFields: ['module', 'main'],
  logLevel: 'warning',
  metafile: true,
  legalComments: 'none',
};
/** Native modules (and dockerode, which reaches them), and typescript (9.5 MB) that oclif and cosmiconfig load for a .ts config or a development checkout only. */
const EXTERNAL = ['dockerode', '@resvg/resvg-js', 'ssh2', 'cpu-features', 'typescript', 'ts-node', 'tsx'];

const result = await build({
  ...SHARED,
  entryPoints,
  outdir: join(pkg, 'dist'),
  // Bundled CommonJS (oclif) still calls require() for Node's own modules and for paths it
  // computes; give the ESM output a real one.
  banner: { js: "import { createRequire as __tarsCreateRequire } from 'node:module'; const require = __tarsCreateRequire(import.meta.url);" },
  external: EXTERNAL,
  plugins: [lazyOclifRequires, barrelImports, ejsShim, debugShim, zodLazyBinds],
});
// The fast start (src/fast/run.ts): the same commands and kit again, under dist/fast/, with
// `@oclif/core` replaced by src/fast/oclif-lite.ts; its entry holds the table of command ids,
// each command a chunk of its own that is read only when its id is named. bin/run.js tries it
// first and runs oclif (above) for whatever it leaves.
rmSync(join(pkg, 'dist/fast'), { recursive: true, force: true });
const ownCommands = commandEntries(join(pkg, 'src/commands'));
const FAST_ENTRY = `import { runFast } from ${JSON.stringify(join(pkg, 'src/fast/run.ts'))};
const commands = {
${ownCommands.map((c) => `  ${JSON.stringify(c.out.replace(/^commands\//, '').replace(/\//g, ':'))}: () => import(${JSON.stringify(c.in)}),`).join('\n')}
};
/** Run argv's command without oclif; false where oclif must run it (dist/main.js). */
export const run = (argv) => runFast(argv, commands, new URL('../', import.meta.url));
/** The table, for the test that loads every command. */
export { commands };
`;
/**
 * Node's own modules without their ESM namespace. `import { join } from 'node:path'` makes Node
 * build the module's whole namespace, reading every export: node:fs's ReadStream getter loads
 * the fs streams, node:process's creates process.stdin and process.stdout, node:net's loads its
 * BlockList. Here each such import resolves to a module that takes the real one from
 * process.getBuiltinModule and reads only the names the bundle uses (the others are dropped as
 * pure). A start need not load some modules at all (node:crypto alone is some 5 ms): for those
 * (LAZY_BUILTINS), functions are wrappers that load the module on the first call, with
 * util.promisify's custom form forwarded; anything else (a class, for `new` and `instanceof`)
 * loads it where a chunk that uses it is imported. `node:process` is the global `process`.
 */
const LAZY_BUILTINS = new Set(['crypto', 'child_process', 'net', 'tty', 'stream', 'events', 'zlib', 'dgram', 'http', 'https', 'http2', 'dns', 'readline', 'worker_threads', 'v8', 'vm', 'inspector']);
const builtinNamespaces = {
  name: 'builtin-namespaces',
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z_]+(\/[a-z_]+)?$/ }, async (args) => {
      const id = args.path.replace(/^node:/, '');
      if (!BUILTINS.has(id)) return undefined;
      const lazy = LAZY_BUILTINS.has(id.split('/')[0]);
      // require('crypto') in bundled CommonJS (cosmiconfig): a proxy that loads it when read.
      if (args.kind === 'require-call') return lazy ? { path: id, namespace: 'builtin-cjs' } : undefined;
      if (args.kind !== 'import-statement') return undefined;
      // A file that imports a class of a lazy module (execa's ChildProcess) gets the real one:
      // read at the shared chunk's start, it would load the module for every command.
      if (lazy) {
        const { readFile } = await import('node:fs/promises');
        const text = await readFile(args.importer, 'utf8').catch(() => '');
        const named = [...text.matchAll(new RegExp(`import\\s*(?:\\w+\\s*,\\s*)?\\{([^}]*)\\}\\s*from\\s*['"]${args.path}['"]`, 'g'))].flatMap((x) => x[1].split(',').map((n) => n.trim().split(/\\s+as\\s+/)[0]).filter(Boolean));
        if (named.some((n) => !/^[a-z]/.test(n))) return undefined;
      }
      // One copy per importer (a few lines, the unused names dropped): shared, each module would
      // be a chunk file of its own, and every file costs a start its resolution and read.
      return { path: `${id}?${args.importer}`, namespace: 'builtin' };
    });
    b.onLoad({ filter: /.*/, namespace: 'builtin-cjs' }, ({ path: id }) => ({
      contents: `let m;
const load = () => (m ??= process.getBuiltinModule('node:${id}'));
module.exports = new Proxy({}, {
  get: (_, k) => (k === '__esModule' ? undefined : load()[k]),
  has: (_, k) => k in load(),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_, k) => { const d = Object.getOwnPropertyDescriptor(load(), k); return d && { ...d, configurable: true }; },
});`,
      loader: 'js',
    }));
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, ({ path }) => {
      const id = path.slice(0, path.indexOf('?'));
      const real = require(`node:${id}`);
      const names = Object.getOwnPropertyNames(real).filter((k) => /^[A-Za-z_$][\w$]*$/.test(k) && k !== 'default');
      const lazy = LAZY_BUILTINS.has(id.split('/')[0]);
      const lines = [
        id === 'process' ? 'const __mod = () => process;' : `let __m;\nconst __mod = () => (__m ??= process.getBuiltinModule('node:${id}'));`,
        'const __pick = (k) => __mod()[k];',
        "const __custom = Symbol.for('nodejs.util.promisify.custom');",
        'const __wrap = (k) => { const f = (...a) => __mod()[k](...a); Object.defineProperty(f, __custom, { get: () => __mod()[k][__custom] }); return f; };',
        lazy ? 'export default new Proxy({}, { get: (_, k) => __mod()[k], has: (_, k) => k in __mod() });' : 'export default /* @__PURE__ */ __mod();',
      ];
      for (const k of names) {
        const d = Object.getOwnPropertyDescriptor(real, k);
        if (lazy && typeof d.value === 'function' && /^[a-z]/.test(k)) {
          lines.push(`export const ${k} = /* @__PURE__ */ __wrap(${JSON.stringify(k)});`);
        } else {
          lines.push(`export const ${k} = /* @__PURE__ */ __pick(${JSON.stringify(k)});`);
        }
      }
      return { contents: lines.join('\n'), loader: 'js' };
    });
  },
};
/**
 * esbuild plugin (the fast start's help chunk): the modules that oclif's help modules require
 * but that help as src/fast/help.ts runs it never evaluates (their requires are lazy, see
 * lazyOclifRequires) — a custom help class's loader, dynamic flag defaults, JSON colouring and
 * the logger — are left out: each is a module that throws if anything
 * is read from it, so that the chunk a help line reads is what it runs (help-fast.e2e.test.ts
 * renders every command's and topic's help through it). Only help.ts reaches oclif's own files
 * in the fast build: commands get oclif-lite for `@oclif/core`.
 */
const HELP_LEFT_OUT = /[\\/]@oclif[\\/]core[\\/]lib[\\/](?:config[\\/]ts-path|module-loader|util[\\/]cache-default-value|ux[\\/]colorize-json|logger)\.js$/;
const helpLeftOut = {
  name: 'help-left-out',
  setup(b) {
    b.onLoad({ filter: HELP_LEFT_OUT }, (args) => ({
      contents: `module.exports = new Proxy({}, { get(_, k) { if (k === '__esModule') return undefined; throw new Error(${JSON.stringify(`tarscli's fast help left ${relative(pkg, args.path)} out of its chunk (scripts/bundle.mjs), but read `)} + String(k)); } });`,
      loader: 'js',
    }));
  },
};
/** The fast start's help chunk: string-width 4 counted by a loop where that is exact (scripts/string-width-ascii.mjs). */
const stringWidthAscii = {
  name: 'string-width-ascii',
  setup(b) {
    b.onResolve({ filter: /^string-width$/ }, (args) => {
      const real = createRequire(join(args.resolveDir, 'x.js')).resolve('string-width');
      const { version } = JSON.parse(readFileSync(join(dirname(real), 'package.json'), 'utf8'));
      return version.startsWith('4.') ? { path: real, namespace: 'tars-string-width' } : undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'tars-string-width' }, (args) => ({ contents: STRING_WIDTH_ASCII(args.path), loader: 'js', resolveDir: dirname(args.path) }));
  },
};
const fastStart = {
  name: 'fast-start',
  setup(b) {
    b.onResolve({ filter: /^tars:fast-entry$/ }, () => ({ path: 'fast-entry', namespace: 'tars' }));
    b.onLoad({ filter: /.*/, namespace: 'tars' }, () => ({ contents: FAST_ENTRY, resolveDir: pkg, loader: 'js' }));
    b.onResolve({ filter: /^@oclif\/core$/ }, () => ({ path: join(pkg, 'src/fast/oclif-lite.ts') }));
  },
};
const fast = await build({
  ...SHARED,
  entryPoints: [{ in: 'tars:fast-entry', out: 'main' }],
  outdir: join(pkg, 'dist/fast'),
  // No require() banner: this ESM is only an intermediate, run as CommonJS (toCommonJs below),
  // where bundled CommonJS finds the module's own require.
  // js-yaml is what cosmiconfig requires for a YAML config only: required from node_modules then.
  external: [...EXTERNAL, 'js-yaml'],
  // The help chunk (src/fast/help.ts) bundles oclif's Help class from @oclif/core/help, with
  // oclif's requires made lazy and its templates and debug loggers shimmed as in the build above.
  plugins: [fastStart, barrelImports, builtinNamespaces, helpLeftOut, lazyOclifRequires, ejsShim, debugShim, stringWidthAscii, zodLazyBinds],
});
Object.assign(result.metafile.outputs, fast.metafile.outputs);
await toCommonJs(join(pkg, 'dist/fast'), Object.keys(fast.metafile.outputs).filter((f) => f.endsWith('.js')));

/**
 * The fast start as CommonJS. esbuild splits ESM only, but Node 20's ESM loader costs about a
 * millisecond per module (resolution, a job, linking), where require() of a file costs a tenth of
 * that: a command reaching 20 to 30 chunks paid 20 to 30 ms, a fifth of `node -e 0`. So the split
 * ESM output is rewritten, file by file, as CommonJS with the same names: static imports become
 * require() at the top (esbuild's own ESM→CJS transform, live bindings through getters), a
 * dynamic import() of a chunk a require() when called (the chunk's exports, `default`
 * included), and a dynamic import() of a package stays import() (ESM-only ones must).
 * dist/fast/package.json marks the folder CommonJS.
 */
async function toCommonJs(dir, files) {
  for (const f of files) {
    const path = join(pkg, f);
    const code = readFileSync(path, 'utf8').replace(/\bimport\((["'])(\.{1,2}\/[^"']+)\1\)/g, (_, q, p) => `Promise.resolve().then(() => require(${q}${p}${q}))`);
    const out = await transform(code, {
      format: 'cjs',
      platform: 'node',
      target: 'node20',
      define: { 'import.meta.url': '__tarsModuleUrl' },
      banner: "const __tarsModuleUrl = require('node:url').pathToFileURL(__filename).href;",
      logLevel: 'error',
    });
    writeFileSync(path, out.code);
  }
  writeFileSync(join(dir, 'package.json'), '{ "type": "commonjs" }\n');
}

// Looking into the start-up (the figures bench/startup.mjs times):
//   --startup        what each entry reads at start (its file and every chunk it imports statically)
//   --reach ID       the fast start's command ID (`ps`): what it reads, by package (FILES=part: by file)
//   --who PATH       which modules import a module whose path contains PATH, and how
//   --holder PATH    the chunk holding such a module, and what loading it reads
//   --analyze        esbuild's own table of every output
const outs = result.metafile.outputs;
const arg = (flag) => (process.argv.includes(flag) ? process.argv[process.argv.indexOf(flag) + 1] ?? '' : undefined);
/** A file and every chunk it imports statically. */
const reach = (f, seen = new Set()) => {
  if (seen.has(f)) return seen;
  seen.add(f);
  for (const i of outs[f]?.imports ?? []) if (i.kind === 'import-statement' && !i.external) reach(i.path, seen);
  return seen;
};
const reads = (f) => {
  const files = [...reach(f)];
  return `${(files.reduce((n, x) => n + outs[x].bytes, 0) / 1024).toFixed(0).padStart(6)} KiB in ${files.length} files`;
};
if (process.argv.includes('--startup')) for (const [f, o] of Object.entries(outs)) if (o.entryPoint) console.log(`${f.padEnd(48)} ${reads(f)}`);
if (process.argv.includes('--analyze')) {
  const { analyzeMetafile } = await import('esbuild');
  console.log(await analyzeMetafile(result.metafile));
}
if (arg('--reach') !== undefined) {
  const entry = Object.keys(outs).find((f) => f.startsWith('dist/fast/') && f.includes(`/chunks/${arg('--reach')}-`));
  const inputs = {};
  for (const f of reach(entry)) for (const [k, v] of Object.entries(outs[f].inputs)) inputs[k] = v.bytesInOutput;
  const byPkg = {};
  for (const [k, v] of Object.entries(inputs)) {
    const p = k.replace(/^(\.\.\/)+/, '').replace(/^node_modules\/((@[^/]+\/)?[^/]+).*/, '$1').replace(/^([a-z-]+)\/dist\/.*/, '@tars/$1');
    byPkg[p] = (byPkg[p] ?? 0) + v;
  }
  if (process.env.FILES) for (const [k, v] of Object.entries(inputs).sort((a, b) => b[1] - a[1])) if (k.includes(process.env.FILES)) console.log(String(v).padStart(7), k);
  for (const [k, v] of Object.entries(byPkg).sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(String(Math.round(v / 1024)).padStart(5), 'KiB', k);
}
if (arg('--who') !== undefined) {
  for (const [k, v] of Object.entries(fast.metafile.inputs)) for (const i of v.imports) if (i.path.includes(arg('--who'))) console.log(k, '->', i.path, i.kind);
}
if (arg('--holder') !== undefined) {
  for (const [f, o] of Object.entries(outs)) if (Object.keys(o.inputs).some((k) => k.includes(arg('--holder')))) console.log(f, reads(f));
}
