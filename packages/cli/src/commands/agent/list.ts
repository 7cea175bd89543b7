import { formatTable, outputResult } from '@tars/core';
import { agentComponentId, componentStatus } from '@tars/image-builder';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BaseCommand } from '../../base-command.js';

interface AgentRow {
  name: string;
  lang: string;
  version: string;
  path: string;
  sourcePresent: boolean;
  build: 'built' | 'stale' | 'not built' | 'prebuilt';
  output: string | null;
}

export default class AgentList extends BaseCommand<typeof AgentList, { agents: AgentRow[] }> {
  static override summary = 'List the agents in the config with language, path and build status';
  static override description = 'Build status, judged like os build judges it (by the hash of the inputs, toolchain and command): built (the outputs are the cached build of the current inputs), stale (an input changed since), not built, or prebuilt (a static executable used as it is, lang elf).';
  static override examples = ['<%= config.bin %> agent list', '<%= config.bin %> agent list --json'];

  async execute(): Promise<{ agents: AgentRow[] }> {
    const { config, root } = await this.loadConfig();
    const status = new Map((await componentStatus({ root, config })).map((c) => [c.id, c]));
    const agents = config.agents.map((a): AgentRow => {
      const st = status.get(agentComponentId(a.name));
      // A prebuilt executable (lang "elf") has no build step: it is its own output.
      if (a.lang === 'elf') return { name: a.name, lang: a.lang, version: a.version, path: a.path, sourcePresent: existsSync(join(root, a.path)), build: 'prebuilt', output: a.path };
      return { name: a.name, lang: a.lang, version: a.version, path: a.path, sourcePresent: existsSync(join(root, a.path)), build: st?.state ?? 'not built', output: st?.outputs[0] ?? null };
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
