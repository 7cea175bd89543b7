#!/usr/bin/env node
// The execute entry alone: `--help` and `--version` never load the rest of @oclif/core.
//
// Help and version output is also cached: it depends only on this installation (the command
// manifest, the package versions), the arguments and how the terminal renders it (width, colour),
// so the first run renders it with oclif and stores it, and later runs print the stored text
// without loading oclif at all (Node's own start-up is then nearly the whole cost).
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const cacheable = isHelpOrVersion(args);
const cacheFile = cacheable ? outputCacheFile(args) : undefined;
if (cacheFile) {
  let cached;
  try {
    cached = readFileSync(cacheFile);
  } catch {
    cached = undefined;
  }
  if (cached) {
    process.stdout.write(cached);
  } else {
    captureInto(cacheFile);
    await run();
  }
} else {
  await run();
}

async function run() {
  const { execute } = await import('@oclif/core/execute');
  await execute({ dir: import.meta.url });
}

/**
 * `--version`, and help for the root, a topic or a command (`--help`, `-h`, `help …`) when the
 * words name one: pure functions of the installation. Anything else (a typo that would get a
 * did-you-mean, flags) runs normally and is never cached.
 */
function isHelpOrVersion(argv) {
  if (argv.length === 1 && argv[0] === '--version') return true;
  if (argv.length === 0) return false;
  const last = argv[argv.length - 1];
  const words = argv[0] === 'help' ? argv.slice(1) : last === '--help' || last === '-h' ? argv.slice(0, -1) : undefined;
  return words !== undefined && namesCommandOrTopic(words);
}

function namesCommandOrTopic(words) {
  if (words.length === 0) return true;
  if (!words.every((w) => /^[a-z][a-z0-9-]*$/.test(w))) return false;
  try {
    const manifest = JSON.parse(readFileSync(fileURLToPath(new URL('../oclif.manifest.json', import.meta.url)), 'utf8'));
    const id = words.join(':');
    return Object.keys(manifest.commands ?? {}).some((c) => c === id || c.startsWith(`${id}:`));
  } catch {
    return false;
  }
}

function outputCacheFile(argv) {
  try {
    const root = fileURLToPath(new URL('../', import.meta.url));
    const stamp = (p) => {
      const s = statSync(join(root, p));
      return `${p}:${s.size}:${s.mtimeMs}`;
    };
    const env = Object.keys(process.env)
      .filter((k) => /^(NO_COLOR|FORCE_COLOR|TERM|COLORTERM|COLUMNS|OCLIF_.*|TARS_.*|CI|LANG|LC_ALL)$/.test(k))
      .sort()
      .map((k) => `${k}=${process.env[k]}`);
    const key = createHash('sha256')
      .update(
        JSON.stringify([argv, stamp('oclif.manifest.json'), stamp('package.json'), process.version, process.platform, process.arch, Boolean(process.stdout.isTTY), process.stdout.columns ?? 0, env]),
      )
      .digest('hex');
    const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
    return join(base, 'tarscli', 'output', `${key}.txt`);
  } catch {
    return undefined; // no manifest (a development checkout before the build): no cache
  }
}

/** Keep what this run prints; store it when the run ends cleanly with nothing on stderr. */
function captureInto(file) {
  const chunks = [];
  let clean = true;
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = (chunk, ...rest) => {
    chunks.push(Buffer.from(chunk));
    return out(chunk, ...rest);
  };
  process.stderr.write = (chunk, ...rest) => {
    clean = false;
    return err(chunk, ...rest);
  };
  process.on('exit', (code) => {
    if (!clean || code !== 0 || chunks.length === 0) return;
    try {
      mkdirSync(join(file, '..'), { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, Buffer.concat(chunks));
      renameSync(tmp, file);
    } catch {
      // an unwritable cache only costs speed
    }
  });
}
