import { formatTable, outputResult } from '@tars/core';
import { createBuildPlan } from '@tars/image-builder';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BaseCommand } from '../../base-command.js';

interface AgentRow {
  name: string;
  lang: string;
  version: string;
  path: string;
  sourcePresent: boolean;
  build: 'built' | 'stale' | 'not built';
  output: string | null;
}

export default class AgentList extends BaseCommand<typeof AgentList, { agents: AgentRow[] }> {
  static override summary = 'List the agents in the config with language, path and build status';
  static override description = 'Build status: built (the output is newer than every source file), stale (a source changed since), not built.';
  static override examples = ['<%= config.bin %> agent list', '<%= config.bin %> agent list --json'];

  async execute(): Promise<{ agents: AgentRow[] }> {
    const { config, root } = await this.loadConfig();
    const plan = createBuildPlan(config);
    const newest = (dir: string): number => {
      if (!existsSync(dir)) return 0;
      const st = statSync(dir);
      if (!st.isDirectory()) return st.mtimeMs;
      return Math.max(0, ...readdirSync(dir).filter((e) => !['bin', 'obj', 'target', 'out'].includes(e)).map((e) => newest(join(dir, e))));
    };
    const agents = config.agents.map((a): AgentRow => {
      const step = plan.steps.find((s) => s.id === `agent:${a.name}`);
      const out = step?.outputs[0];
      const abs = out ? join(root, out) : undefined;
      let build: AgentRow['build'] = 'not built';
      if (abs && existsSync(abs)) build = statSync(abs).mtimeMs >= newest(join(root, a.path)) ? 'built' : 'stale';
      return { name: a.name, lang: a.lang, version: a.version, path: a.path, sourcePresent: existsSync(join(root, a.path)), build, output: out ?? null };
    });
    return { agents };
  }

  protected render(r: { agents: AgentRow[] }): void {
    if (r.agents.length === 0) {
      outputResult('No agents in the config. Create one: tarscli agent new NAME --lang rust');
      return;
    }
    outputResult(formatTable(['agent', 'lang', 'version', 'path', 'build'], r.agents.map((a) => [a.name, a.lang, a.version, a.sourcePresent ? a.path : `${a.path} (missing)`, a.build])));
  }
}
