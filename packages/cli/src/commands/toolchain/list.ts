import { formatTable, inspectImage, outputResult, pingEngine, readRegistry, TOOLCHAIN_NAMES, type ToolchainName } from '@tars/core';
import { BaseCommand } from '../../base-command.js';

interface ToolchainRow {
  toolchain: ToolchainName;
  image: string;
  present: boolean;
  id: string | null;
  recordedId: string | null;
  version: string | null;
  sizeBytes: number | null;
  optional: boolean;
}

export default class ToolchainList extends BaseCommand<typeof ToolchainList, { engine: boolean; toolchains: ToolchainRow[] }> {
  static override summary = 'List the builder images the config names, whether they exist and their digests';
  static override examples = ['<%= config.bin %> toolchain list --json'];
  static override requiresProject = false;

  async execute(): Promise<{ engine: boolean; toolchains: ToolchainRow[] }> {
    const { config, root } = await this.loadConfig();
    const engine = Boolean(await pingEngine());
    const registry = readRegistry(root);
    const toolchains = await Promise.all(
      TOOLCHAIN_NAMES.map(async (t): Promise<ToolchainRow> => {
        const image = config.toolchains[t].image;
        const found = engine ? await inspectImage(image) : undefined;
        return {
          toolchain: t,
          image,
          present: Boolean(found),
          id: found?.id ?? null,
          recordedId: registry.images[t]?.id ?? null,
          version: found?.labels['dev.tars.version'] ?? null,
          sizeBytes: found?.size ?? null,
          optional: config.toolchains[t].optional,
        };
      }),
    );
    return { engine, toolchains };
  }

  protected render(r: { engine: boolean; toolchains: ToolchainRow[] }): void {
    if (!r.engine) outputResult('No Docker engine answers: every step would run on the host.');
    outputResult(
      formatTable(
        ['toolchain', 'image', 'present', 'id', 'version'],
        r.toolchains.map((t) => [
          t.toolchain,
          t.image,
          t.present ? 'yes' : 'no',
          t.id ? `${t.id.slice(7, 19)}${t.recordedId && t.recordedId !== t.id ? ' (differs from recorded)' : ''}` : '',
          t.version ?? '',
        ]),
      ),
    );
  }
}
