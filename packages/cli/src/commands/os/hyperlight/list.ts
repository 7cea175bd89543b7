import { Args } from '@oclif/core';
import { formatTable, outputResult } from '@tars/core';
import { hyperlightLiveSandboxes, type LiveSandbox } from '@tars/deploy';
import { formatSignature, listSandboxModules, type SandboxModuleInfo } from '@tars/image-builder';
import { BaseCommand } from '../../../base-command.js';

interface HyperlightListResult {
  modules: SandboxModuleInfo[];
  /** With a deployment id: its live sandboxes. */
  deployment?: { id: string; sandboxes: LiveSandbox[] };
}

export default class OsHyperlightList extends BaseCommand<typeof OsHyperlightList, HyperlightListResult> {
  static override summary = 'List the function modules and the functions each exports, with signatures';
  static override description =
    'The function modules of the config ("sandbox": true), each with the functions its built guest image exports (read from the image itself, so what is listed is what a call is checked against), or why they are not known yet. With a deployment id, also the live sandboxes of that running system: the guest context of each sandbox (its task id, for `os kill`) and whether a call runs in it.';
  static override examples = ['<%= config.bin %> os hyperlight list', '<%= config.bin %> os hyperlight list tars-1a2b3c --json'];
  static override args = { id: Args.string({ description: 'A running deployment whose live sandboxes to list' }) };

  async execute(): Promise<HyperlightListResult> {
    const { config, root } = await this.loadConfig();
    const modules = listSandboxModules(root, config);
    if (!this.args.id) return { modules };
    const deployment = await this.pickDeployment(root, this.args.id);
    const { sandboxes } = await hyperlightLiveSandboxes(deployment);
    return { modules, deployment: { id: deployment.id, sandboxes } };
  }

  protected render(r: HyperlightListResult): void {
    if (r.modules.length === 0) outputResult('No function modules in the config. Create one: tarscli os hyperlight new NAME --lang rust');
    for (const m of r.modules) {
      outputResult(`${m.name} ${m.version} (${m.lang}, ${m.path})${m.kernels ? ' + CUDA kernels' : ''}${m.problem ? `: ${m.problem}` : ''}`);
      for (const f of m.functions) outputResult(`  ${formatSignature(f)}`);
    }
    if (r.deployment) {
      outputResult(r.deployment.sandboxes.length ? formatTable(['task', 'module', 'state'], r.deployment.sandboxes.map((s) => [String(s.task), s.module, s.state])) : `No live sandboxes in ${r.deployment.id}.`);
    }
  }
}
