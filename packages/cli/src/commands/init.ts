import { Args, Flags } from '@oclif/core';
import { outputInfo, outputResult } from '@tars/core';
import { initProject, type InitResult } from '@tars/image-builder';
import { relative } from 'node:path';
import { BaseCommand } from '../base-command.js';
import { cliPackageDir, dotnetSourceDir, gpuSourceDir, kernelSourceDir } from '../templates.js';


export default class Init extends BaseCommand<typeof Init, InitResult> {
  static override summary = 'Start a TARS project: the kernel workspace with demo agents, the .NET SDK, tars.config.json, package.json';
  static override description =
    'Creates DIR (or fills an empty one). The project builds, boots, simulates and takes new Rust, C#, F# and CUDA agents with tarscli like this repository does. The @tars packages are not on the npm registry, so init packs the running tarscli and its @tars packages into vendor/tars/ and the project\'s package.json installs them from there (`npm install` takes their other dependencies from the registry).';
  static override examples = ['<%= config.bin %> init my-os', '<%= config.bin %> init . --name edge-os --json'];
  static override requiresProject = false;
  static override args = { dir: Args.string({ description: 'Directory for the project (created when missing; must be empty)', required: true }) };
  static override flags = {
    name: Flags.string({ description: 'Image name (default: the directory name)' }),
  };

  async execute(): Promise<InitResult> {
    return initProject({
      dir: this.args.dir,
      kernelSource: kernelSourceDir(),
      dotnetSource: dotnetSourceDir(),
      gpuSource: gpuSourceDir(),
      cliDir: cliPackageDir(),
      signal: this.signal,
      onProgress: (m) => outputInfo(m),
      ...(this.flags.name ? { name: this.flags.name } : {}),
    });
  }

  protected render(r: InitResult): void {
    const where = relative(process.cwd(), r.dir) || '.';
    outputResult(`Created TARS project ${r.name} in ${where}: ${r.files.join(', ')}`);
    const cli = r.vendored[0];
    if (cli) outputResult(`Vendored ${cli.name} ${cli.version} and ${r.vendored.length - 1} @tars packages it needs into vendor/tars: they are not on the npm registry, so npm install takes them from there.`);
    outputResult(`Next: cd ${shellQuote(where)} && npm install && npx tarscli doctor && npx tarscli os build && npx tarscli os deploy --to qemu --detach`);
  }
}

/** A path as a POSIX shell reads it back: bare when it is plain, else in single quotes. */
function shellQuote(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`;
}
