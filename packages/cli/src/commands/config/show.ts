import { describeSource, formatTable, getPath, outputResult, type TarsConfig } from '@tars/core';
import { BaseCommand } from '../../base-command.js';

interface ConfigShowResult {
  file: string | null;
  root: string;
  config: TarsConfig;
  sources: Record<string, string>;
}

export default class ConfigShow extends BaseCommand<typeof ConfigShow, ConfigShowResult> {
  static override summary = 'Print the resolved configuration and where each value came from';
  static override description =
    'Precedence: flag > env (TARS_*) > file (tars.config.*, .tarsrc*, package.json#tars) > default.';
  static override examples = ['<%= config.bin %> config show', '<%= config.bin %> config show --json', 'TARS_QEMU_ACCEL=tcg <%= config.bin %> config show'];
  static override requiresProject = false;

  async execute(): Promise<ConfigShowResult> {
    const loaded = await this.loadConfig();
    const sources = Object.fromEntries(Object.entries(loaded.sources).map(([k, v]) => [k, describeSource(v)]));
    return { file: loaded.filepath ?? null, root: loaded.root, config: loaded.config, sources };
  }

  protected render(r: ConfigShowResult): void {
    outputResult(`config file: ${r.file ?? '(none: defaults)'}`);
    const rows = Object.entries(r.sources).map(([path, source]) => [path, JSON.stringify(getPath(r.config, path.split('.'))), source]);
    outputResult(formatTable(['key', 'value', 'source'], rows));
  }
}
