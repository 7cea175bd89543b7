import { Args, Flags } from '@oclif/core';
import { outputResult } from '@tars/core';
import { removeAgent, type RemoveAgentResult } from '@tars/image-builder';
import { relative } from 'node:path';
import { BaseCommand } from '../../base-command.js';

export default class AgentRemove extends BaseCommand<typeof AgentRemove, RemoveAgentResult> {
  static override summary = 'Remove an agent: its config entry, its kernel workspace member and its sources';
  static override description =
    'The undo of `agent new`. The config and Cargo.toml keep their formatting; the agent\'s directory is deleted last, and only when it is the agent\'s own: strictly inside the project (symlinks resolved), not a symlink, holding and inside no other agent, SDK, kernel workspace or config (in the kernel workspace: a crate in its agents/), and never with --keep-files or for a prebuilt (elf) executable. Otherwise the result says why it was kept. Images already built are not changed.';
  static override examples = ['<%= config.bin %> agent remove planner', '<%= config.bin %> agent remove ranker --keep-files --json', '<%= config.bin %> agent remove scout --dry-run'];
  static override args = { name: Args.string({ description: 'Agent name', required: true }) };
  static override flags = {
    'keep-files': Flags.boolean({ description: 'Keep the agent\'s sources; only unregister it', default: false }),
    'dry-run': Flags.boolean({ description: 'Show what would be removed, change nothing', default: false }),
  };

  async execute(): Promise<RemoveAgentResult> {
    const loaded = await this.loadConfig();
    return removeAgent({ loaded, name: this.args.name, keepFiles: this.flags['keep-files'], dryRun: this.flags['dry-run'] });
  }

  protected render(r: RemoveAgentResult): void {
    const would = r.dryRun ? 'Would remove' : 'Removed';
    outputResult(`${would} ${r.lang} agent ${r.name} from ${relative(process.cwd(), r.configFile) || r.configFile}${r.workspaceMember ? ` and the kernel workspace (${r.workspaceMember})` : ''}.`);
    outputResult(r.removedDir ? `${r.dryRun ? 'Would delete' : 'Deleted'} ${r.removedDir}/.` : `Sources kept (${r.keptBecause}).`);
  }
}
