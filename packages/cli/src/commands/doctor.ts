import { Flags } from '@oclif/core';
import { color, doctorChecks, EXIT_CODES, formatTable, outputResult, runDoctor, type DoctorReport } from '@tars/core';
import { projectSourcesCheck } from '@tars/image-builder';
import { BaseCommand } from '../base-command.js';

export default class Doctor extends BaseCommand<typeof Doctor, DoctorReport> {
  static override summary = 'Check every tool tarscli needs, with versions and a fix for each problem';
  static override description = 'Exits non-zero (7) when a required check fails; optional ones (nvcc, KVM, Docker, builder images) only warn.';
  static override examples = ['<%= config.bin %> doctor', '<%= config.bin %> doctor --json', '<%= config.bin %> doctor --refresh'];
  static override requiresProject = false;
  static override flags = {
    refresh: Flags.boolean({ description: 'Probe KVM again instead of using the cached verdict', default: false }),
  };

  async execute(): Promise<DoctorReport> {
    const { config, root, filepath } = await this.loadConfig();
    const report = await runDoctor({ config, root, refreshKvm: this.flags.refresh }, [...doctorChecks(), projectSourcesCheck(filepath)]);
    if (!report.ok) process.exitCode = EXIT_CODES.CHECK_FAILED;
    return report;
  }

  protected render(report: DoctorReport): void {
    const mark = { ok: color.green('ok'), warn: color.yellow('warn'), fail: color.red('FAIL') };
    const rows = report.checks.map((c) => [mark[c.status], c.title, c.version ?? '', c.status === 'ok' ? (c.detail ?? '') : `${c.detail ?? ''}${c.fix ? ` → fix: ${c.fix}` : ''}`]);
    outputResult(formatTable(['status', 'check', 'version', 'detail'], rows));
    outputResult(report.ok ? 'All required checks passed.' : 'Some required checks failed.');
  }
}
