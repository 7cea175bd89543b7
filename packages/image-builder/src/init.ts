/**
 * `tarscli init`: start a TARS project outside this monorepo — the kernel workspace (with the
 * ping/pong demo agents), a tars.config.json that points editors at the config's JSON Schema, a
 * package.json that installs tarscli, and a .gitignore. Never writes into a non-empty directory.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { AbortError, AGENT_NAME_RE } from '@tars/core';

export interface InitOptions {
  dir: string;
  /** Image name (default: the directory's name). */
  name?: string;
  /** The kernel workspace to copy (tarscli's bundled copy, or this repository's packages/kernel-rs). */
  kernelSource: string;
  /** The version range of @tars/cli to put in package.json. */
  cliVersion: string;
}

export interface InitResult {
  dir: string;
  name: string;
  files: string[];
}

/** What of the kernel workspace a project needs: sources and build scripts, no build output. */
export function kernelSourceFilter(root: string): (src: string) => boolean {
  return (src) => {
    const rel = relative(root, src);
    return !/^(target|out|node_modules|test|bench|\.test-results|package\.json|tsconfig\.json|vitest\.config\.ts)(\/|$)/.test(rel) && !/(^|\/)agents\/faulty(\/|$)/.test(rel);
  };
}

export function initProject(opts: InitOptions): InitResult {
  const dir = resolve(opts.dir);
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new AbortError(`${opts.dir} is not empty; tarscli init starts a project in a new or empty directory`, { code: 'USAGE', tryMessage: 'Pick another directory: tarscli init my-os' });
  }
  const name = opts.name ?? basename(dir).toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  if (!AGENT_NAME_RE.test(name)) throw new AbortError(`"${name}" is not a usable project name: use kebab-case (a-z, 0-9 and -)`, { code: 'USAGE', tryMessage: 'Pass --name my-os.' });
  if (!existsSync(join(opts.kernelSource, 'Cargo.toml'))) throw new AbortError(`The kernel sources are missing at ${opts.kernelSource}`, { code: 'NOT_FOUND' });
  mkdirSync(dir, { recursive: true });
  cpSync(opts.kernelSource, join(dir, 'kernel'), { recursive: true, filter: kernelSourceFilter(opts.kernelSource) });
  // The demo pair only: the workspace lists exactly the crates that were copied.
  const cargo = join(dir, 'kernel', 'Cargo.toml');
  writeFileSync(cargo, readFileSync(cargo, 'utf8').replace(/,\s*"agents\/faulty"/, ''));
  const demo = (agent: string, priority: number, caps: string[]) => ({ name: agent, lang: 'rust', path: `kernel/agents/${agent}`, version: '0.1.0', priority, caps });
  const config = {
    $schema: './node_modules/@tars/core/tars.config.schema.json',
    name,
    version: '0.1.0',
    kernel: { path: 'kernel' },
    image: { format: 'iso', outDir: 'dist' },
    agents: [demo('pong', 2, ['serve=echo', 'shm=tensor', 'notify=ready']), demo('ping', 3, ['call=echo', 'shm=tensor', 'notify=ready'])],
  };
  const files: Record<string, string> = {
    'tars.config.json': `${JSON.stringify(config, null, 2)}\n`,
    'package.json': `${JSON.stringify(
      {
        name,
        version: '0.1.0',
        private: true,
        type: 'module',
        scripts: { build: 'tarscli os build', boot: 'tarscli os deploy --to qemu --detach', doctor: 'tarscli doctor' },
        devDependencies: { '@tars/cli': opts.cliVersion },
      },
      null,
      2,
    )}\n`,
    '.gitignore': 'node_modules/\ndist/\n.tars/\nkernel/target/\nkernel/out/\n',
    'README.md': `# ${name}\n\nA TARS OS system. \`npm install\` puts \`tarscli\` in node_modules; then:\n\n\`\`\`sh\nnpx tarscli doctor                          # what this machine has\nnpx tarscli os build                        # kernel + agents → dist/iso\nnpx tarscli os deploy --to qemu --detach    # boot it\nnpx tarscli os diagnostics                  # look inside\nnpx tarscli agent new my-agent --lang rust  # add an agent\n\`\`\`\n\nThe config is \`tars.config.json\` (editors check it against its \`$schema\`); the kernel\nworkspace and the demo agents \`ping\` and \`pong\` are in \`kernel/\`.\n`,
  };
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  return { dir, name, files: [...Object.keys(files), 'kernel/'] };
}

