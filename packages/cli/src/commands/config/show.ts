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
    // A list of objects (agents) is one row per field, `agents.0.name` as config errors name it,
    // not one JSON blob that wraps mid-word and pads every piped row to its length.
    const rows = Object.entries(r.sources).flatMap(([path, source]) => expandRows(path, getPath(r.config, path.split('.')), source));
    outputResult(formatTable(['key', 'value', 'source'], rows));
  }
}

function expandRows(path: string, value: unknown, source: string): string[][] {
  if (Array.isArray(value) && value.length > 0 && value.every((v) => v !== null && typeof v === 'object' && !Array.isArray(v))) {
    return value.flatMap((item, i) => Object.entries(item as Record<string, unknown>).map(([k, v]) => [`${path}.${i}.${k}`, JSON.stringify(v), source]));
  }
  return [[path, JSON.stringify(value), source]];
}
