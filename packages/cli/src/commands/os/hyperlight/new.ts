import { Args, Flags } from '@oclif/core';
import { outputResult } from '@tars/core';
import { SANDBOX_LANGS, scaffoldAgent, validateAgentName, type SandboxLang, type ScaffoldResult } from '@tars/image-builder';
import { relative } from 'node:path';
import { BaseCommand } from '../../../base-command.js';
import { templatesDir } from '../../../templates.js';

export default class OsHyperlightNew extends BaseCommand<typeof OsHyperlightNew, ScaffoldResult> {
  static override summary = 'Scaffold a function module (a sandbox guest) and register it in the config';
  static override description =
    "A function module is Hyperlight's guest model on TARS isolation: an image that never runs as a task, whose functions agents and `os hyperlight call` call by name in sandboxes. Rust guests are crates of the kernel workspace on crates/sandbox-guest (`sandbox_main!`); C guests are freestanding C on the C guest runtime (`TARS_SB_MAIN`). Both go to the kernel workspace's agents/NAME and get a config entry with `\"sandbox\": true`. --kernels adds the cuda-module template's CUDA kernels beside the guest, built by `os hyperlight build-kernels`. Never overwrites existing files.";
  static override examples = ['<%= config.bin %> os hyperlight new scorer --lang rust', '<%= config.bin %> os hyperlight new policy --lang c --kernels --json'];
  static override args = { name: Args.string({ description: 'Module name (kebab-case)', required: true }) };
  static override flags = {
    lang: Flags.string({ char: 'l', description: 'Guest language', options: [...SANDBOX_LANGS], required: true }),
    kernels: Flags.boolean({ description: "Also scaffold the module's CUDA kernels (kernels/, scripts/build-fatbin.sh, module.json)", default: false }),
    version: Flags.string({ description: 'Initial version', default: '0.1.0' }),
    'dry-run': Flags.boolean({ description: 'Show what would be written, write nothing', default: false }),
  };

  async execute(): Promise<ScaffoldResult> {
    const loaded = await this.loadConfig();
    const lang = this.flags.lang as SandboxLang;
    validateAgentName(this.args.name, loaded.config, lang);
    return scaffoldAgent({ loaded, name: this.args.name, lang, sandbox: true, kernels: this.flags.kernels, templatesDir: templatesDir(), version: this.flags.version, dryRun: this.flags['dry-run'] });
  }

  protected render(r: ScaffoldResult): void {
    outputResult(`${r.dryRun ? 'Would create' : 'Created'} ${r.lang} function module ${r.name} in ${r.dir}:`);
    for (const f of r.files) outputResult(`  ${f}`);
    outputResult(`${r.dryRun ? 'Would register' : 'Registered'} in ${relative(process.cwd(), r.configFile) || r.configFile}${r.workspaceMember ? ` and the kernel workspace (${r.workspaceMember})` : ''}.`);
    if (!r.dryRun) outputResult(`Next: tarscli os hyperlight build-kernels --module ${r.name}`);
  }
}
