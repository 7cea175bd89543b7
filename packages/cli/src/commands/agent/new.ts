import { Args, Flags } from '@oclif/core';
import { AbortError, isInteractive, outputResult } from '@tars/core';
import { SCAFFOLD_LANGS, scaffoldAgent, type ScaffoldLang, type ScaffoldResult } from '@tars/image-builder';
import { createInterface } from 'node:readline/promises';
import { relative } from 'node:path';
import { BaseCommand } from '../../base-command.js';
import { templatesDir } from '../../templates.js';

export default class AgentNew extends BaseCommand<typeof AgentNew, ScaffoldResult> {
  static override summary = 'Scaffold a new agent from a template and register it in the config';
  static override description =
    'Rust agents become a crate of the kernel workspace (a user-mode task of TARS OS); C# and F# agents are NativeAOT static executables that boot as modules too (with `call=echo`: the template calls the Rust pong), and CUDA modules are fatbins, all built by `os build` and carried in the image. Never overwrites existing files. On a terminal, missing NAME or --lang are asked for; elsewhere they are errors.';
  static override examples = ['<%= config.bin %> agent new planner --lang rust', '<%= config.bin %> agent new ranker --lang csharp --dry-run --json'];
  static override args = { name: Args.string({ description: 'Agent name (kebab-case)' }) };
  static override flags = {
    lang: Flags.string({ char: 'l', description: 'Language', options: [...SCAFFOLD_LANGS] }),
    dir: Flags.string({ description: 'Directory for the agent (default: kernel-rs/agents/NAME for Rust, gpu/NAME for CUDA, agents/NAME otherwise)' }),
    version: Flags.string({ description: 'Initial version', default: '0.1.0' }),
    'dry-run': Flags.boolean({ description: 'Show what would be written, write nothing', default: false }),
  };

  async execute(): Promise<ScaffoldResult> {
    const loaded = await this.loadConfig();
    const name = this.args.name ?? (await this.ask('Agent name (kebab-case): ', 'NAME'));
    const lang = (this.flags.lang ?? (await this.ask(`Language (${SCAFFOLD_LANGS.join(', ')}): `, '--lang'))) as ScaffoldLang;
    if (!SCAFFOLD_LANGS.includes(lang)) throw new AbortError(`Unknown language "${lang}"; expected one of ${SCAFFOLD_LANGS.join(', ')}`);
    return scaffoldAgent({ loaded, name, lang, templatesDir: templatesDir(), version: this.flags.version, dryRun: this.flags['dry-run'], ...(this.flags.dir ? { dir: this.flags.dir } : {}) });
  }

  private async ask(question: string, what: string): Promise<string> {
    if (!isInteractive()) throw new AbortError(`${what} is required (no terminal to ask on)`, { tryMessage: 'Example: tarscli agent new my-agent --lang rust' });
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return (await rl.question(question)).trim();
    } finally {
      rl.close();
    }
  }

  protected render(r: ScaffoldResult): void {
    outputResult(`${r.dryRun ? 'Would create' : 'Created'} ${r.lang} agent ${r.name} in ${r.dir}:`);
    for (const f of r.files) outputResult(`  ${f}`);
    outputResult(`${r.dryRun ? 'Would register' : 'Registered'} in ${relative(process.cwd(), r.configFile) || r.configFile}${r.workspaceMember ? ` and the kernel workspace (${r.workspaceMember})` : ''}.`);
    if (!r.dryRun) outputResult('Next: tarscli os build && tarscli os deploy --to qemu --detach && tarscli os diagnostics');
  }
}
