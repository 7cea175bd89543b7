import { Args, Flags } from '@oclif/core';
import { AbortError, colorErr, isInteractive, outputResult } from '@tars/core';
import { SCAFFOLD_LANGS, SCAFFOLD_TEMPLATES, scaffoldAgent, TEMPLATE_LANG, validateAgentName, type ScaffoldLang, type ScaffoldResult, type ScaffoldTemplate } from '@tars/image-builder';
import { createInterface, type Interface } from 'node:readline/promises';
import { relative } from 'node:path';
import { BaseCommand } from '../../base-command.js';
import { templatesDir } from '../../templates.js';

export default class AgentNew extends BaseCommand<typeof AgentNew, ScaffoldResult> {
  static override summary = 'Scaffold a new agent from a template and register it in the config';
  static override description =
    'Rust agents become a crate of the kernel workspace (a user-mode task of TARS OS); C# and F# agents are NativeAOT static executables that boot as modules too (with `call=echo`: the template calls the Rust pong), and CUDA modules are fatbins, all built by `os build` and carried in the image. `--template multi-agent` makes two Rust agents from one name: a coordinator NAME that spawns NAME-worker at run time (the worker has `boot: false`, the coordinator `spawn: [NAME-worker]` and a shared `shm=` buffer); both entries are added. Never overwrites existing files. On a terminal, missing NAME or --lang are asked for; elsewhere they are errors.';
  static override examples = ['<%= config.bin %> agent new planner --lang rust', '<%= config.bin %> agent new ranker --lang csharp --dry-run --json', '<%= config.bin %> agent new swarm --template multi-agent'];
  static override args = { name: Args.string({ description: 'Agent name (kebab-case)' }) };
  static override flags = {
    lang: Flags.string({ char: 'l', description: 'Language', options: [...SCAFFOLD_LANGS] }),
    template: Flags.string({ char: 't', description: "A template beyond the language's own (multi-agent: a Rust coordinator NAME and the worker NAME-worker it spawns)", options: [...SCAFFOLD_TEMPLATES] }),
    dir: Flags.string({ description: 'Directory for the agent (default: kernel-rs/agents/NAME for Rust, gpu/NAME for CUDA, agents/NAME otherwise)' }),
    version: Flags.string({ description: 'Initial version', default: '0.1.0' }),
    'dry-run': Flags.boolean({ description: 'Show what would be written, write nothing', default: false }),
  };

  async execute(): Promise<ScaffoldResult> {
    const loaded = await this.loadConfig();
    const prompt = new Prompt();
    try {
      // The name is checked as soon as it is known, before the language is asked; a name typed
      // at the prompt that does not do is asked again, as is a language tarscli does not know.
      let name = this.args.name;
      if (name === undefined) {
        name = await prompt.askUntil('Agent name (kebab-case): ', 'NAME', (answer) => validateAgentName(answer, loaded.config));
      } else validateAgentName(name, loaded.config);
      const template = this.flags.template as ScaffoldTemplate | undefined;
      const lang = (this.flags.lang ??
        (template ? TEMPLATE_LANG[template] : undefined) ??
        (await prompt.askUntil(`Language (${SCAFFOLD_LANGS.join(', ')}): `, '--lang', (answer) => {
          if (!SCAFFOLD_LANGS.includes(answer as ScaffoldLang)) throw new AbortError(`Unknown language "${answer}"; expected one of ${SCAFFOLD_LANGS.join(', ')}`, { code: 'USAGE' });
        }))) as ScaffoldLang;
      return await scaffoldAgent({ loaded, name, lang, templatesDir: templatesDir(), version: this.flags.version, dryRun: this.flags['dry-run'], ...(template ? { template } : {}), ...(this.flags.dir ? { dir: this.flags.dir } : {}) });
    } finally {
      prompt.close();
    }
  }

  protected render(r: ScaffoldResult): void {
    const names = r.agents.map((a) => a.name);
    const members = r.agents.flatMap((a) => (a.workspaceMember ? [a.workspaceMember] : []));
    outputResult(`${r.dryRun ? 'Would create' : 'Created'} ${r.lang} ${names.length === 1 ? 'agent' : 'agents'} ${names.join(' and ')}${r.template ? ` (${r.template})` : ''} in ${r.agents.map((a) => a.dir).join(' and ')}:`);
    for (const f of r.files) outputResult(`  ${f}`);
    outputResult(`${r.dryRun ? 'Would register' : 'Registered'} in ${relative(process.cwd(), r.configFile) || r.configFile}${members.length ? ` and the kernel workspace (${members.join(', ')})` : ''}.`);
    if (!r.dryRun) outputResult('Next: tarscli os build && tarscli os deploy --to qemu --detach && tarscli os diagnostics');
  }
}

/** Questions on the terminal (stderr), one readline for all of them; none where there is no terminal. */
class Prompt {
  private rl: Interface | undefined;

  /** Ask until `check` accepts the answer (it throws the reason to show otherwise). */
  async askUntil(question: string, what: string, check: (answer: string) => void): Promise<string> {
    for (;;) {
      const answer = await this.ask(question, what);
      try {
        check(answer);
        return answer;
      } catch (err) {
        if (!(err instanceof AbortError)) throw err;
        process.stderr.write(`${colorErr.yellow(err.message)}${err.tryMessage ? ` ${err.tryMessage}` : ''}\n`);
      }
    }
  }

  private async ask(question: string, what: string): Promise<string> {
    if (!isInteractive()) throw new AbortError(`${what} is required (no terminal to ask on)`, { code: 'USAGE', tryMessage: 'Example: tarscli agent new my-agent --lang rust' });
    this.rl ??= createInterface({ input: process.stdin, output: process.stderr });
    const rl = this.rl;
    // End of input (Ctrl-D) is no answer: an error, not a hang.
    let onClose: () => void = () => undefined;
    const closed = new Promise<never>((_, reject) => {
      onClose = () => reject(new AbortError(`No ${what} given (input closed)`, { code: 'USAGE' }));
      rl.once('close', onClose);
    });
    try {
      return (await Promise.race([rl.question(question), closed])).trim();
    } finally {
      rl.off('close', onClose);
    }
  }

  close(): void {
    this.rl?.close();
  }
}
