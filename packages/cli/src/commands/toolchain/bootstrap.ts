import { Flags } from '@oclif/core';
import {
  AbortError,
  bootstrapToolchain,
  DEFAULT_MIRROR,
  formatTable,
  outputResult,
  runTasks,
  TOOLCHAIN_NAMES,
  type ToolchainName,
  type ToolchainRecord,
  workspace,
} from '@tars/core';
import { join } from 'node:path';
import { BaseCommand } from '../../base-command.js';

interface BootstrapCommandResult {
  images: (ToolchainRecord & { built: boolean })[];
}

export default class ToolchainBootstrap extends BaseCommand<typeof ToolchainBootstrap, BootstrapCommandResult> {
  static override summary = 'Build the builder images locally (debootstrap base + toolchain layers) and record their digests';
  static override description =
    'No registry is needed: the base is a debootstrap rootfs imported with `docker import`; the rust and dotnet layers copy in the host\'s pinned toolchains, cuda installs Debian\'s nvidia-cuda-toolkit. Existing images are kept unless --force.';
  static override examples = ['<%= config.bin %> toolchain bootstrap', '<%= config.bin %> toolchain bootstrap --only base,rust --force'];

  static override flags = {
    only: Flags.string({ description: `Comma-separated toolchains to build (${TOOLCHAIN_NAMES.join(', ')})`, default: 'base,rust' }),
    force: Flags.boolean({ description: 'Rebuild images that already exist', default: false }),
    mirror: Flags.string({ description: 'Debian mirror for debootstrap', default: DEFAULT_MIRROR }),
  };

  async execute(): Promise<BootstrapCommandResult> {
    const wanted = this.flags.only.split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = wanted.filter((w) => !TOOLCHAIN_NAMES.includes(w as ToolchainName));
    if (unknown.length > 0) throw new AbortError(`Unknown toolchain ${unknown.join(', ')}; expected one of ${TOOLCHAIN_NAMES.join(', ')}`);
    const { config, root } = await this.loadConfig();
    // Always in dependency order: base first.
    const order = TOOLCHAIN_NAMES.filter((t) => wanted.includes(t));
    const ctx: BootstrapCommandResult = { images: [] };
    await runTasks<BootstrapCommandResult>(
      order.map((toolchain) => ({
        title: `${toolchain}: ${config.toolchains[toolchain].image}`,
        run: async (c: BootstrapCommandResult, task) => {
          const r = await bootstrapToolchain({
            root,
            config,
            toolchain,
            mirror: this.flags.mirror,
            force: this.flags.force,
            signal: this.signal,
            logFile: join(workspace(root).logs, `toolchain-${toolchain}.log`),
            onLine: (line) => {
              task.output = line;
            },
          });
          c.images.push({ ...r.record, built: r.built });
          task.title = `${toolchain}: ${r.record.image} ${r.built ? 'built' : 'already present'} (${r.record.id.slice(7, 19)})`;
        },
      })),
      ctx,
    );
    return ctx;
  }

  protected render(r: BootstrapCommandResult): void {
    outputResult(
      formatTable(
        ['toolchain', 'image', 'id', 'size', 'version'],
        r.images.map((i) => [i.toolchain, i.image, i.id.slice(7, 19), `${Math.round(i.sizeBytes / 1e6)} MB`, i.version]),
      ),
    );
  }
}
