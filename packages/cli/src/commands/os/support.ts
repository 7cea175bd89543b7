import { Flags } from '@oclif/core';
import { outputResult, outputWarn } from '@tars/core';
import { collectSupportBundle, type SupportResult } from '@tars/deploy';
import { BaseCommand } from '../../base-command.js';

export default class OsSupport extends BaseCommand<typeof OsSupport, SupportResult> {
  static override summary = 'Collect config, manifests, logs, deployment diagnostics and the doctor report into one archive';
  static override description = 'Attach the archive to a bug report. Running deployments contribute live diagnostics; what could not be collected is listed in index.json inside the archive.';
  static override examples = ['<%= config.bin %> os support', '<%= config.bin %> os support --output /tmp/tars-support.tar.gz --json'];
  static override flags = {
    output: Flags.string({ char: 'o', description: 'Archive to write', default: 'tars-support.tar.gz' }),
  };

  async execute(): Promise<SupportResult> {
    const loaded = await this.loadConfig();
    const r = await collectSupportBundle({ loaded, output: this.flags.output, tarscli: { version: this.config.version }, signal: this.signal });
    for (const m of r.missing) outputWarn(`not in the bundle: ${m.what} (${m.why})`);
    return r;
  }

  protected render(r: SupportResult): void {
    outputResult(`wrote ${r.archive} (${r.size} bytes, ${r.files.length} files)`);
  }
}
