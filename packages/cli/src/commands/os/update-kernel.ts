import { Args, Flags } from '@oclif/core';
import { AbortError, EXIT_CODES, outputInfo, outputResult, workspace } from '@tars/core';
import { deployerOf, getDeployment, hotSwapModule, type SwapResult } from '@tars/deploy';
import { agentComponentId, buildComponent, ComponentCache, createBuildPlan } from '@tars/image-builder';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BaseCommand } from '../../base-command.js';
import { executorFlag, timeoutFlag } from '../../flags.js';

export default class OsUpdateKernel extends BaseCommand<typeof OsUpdateKernel, SwapResult> {
  static override summary = 'Hot-swap a module in a running system';
  static override description =
    'Builds the module when no --file is given (through the cache), streams it to the kernel in chunks, and waits for the new module to report ready. If it faults or misses its health deadline the kernel rolls back, the old module keeps running, and this command exits 5.';
  static override examples = ['<%= config.bin %> os update-kernel tars-1a2b3c --module pong', '<%= config.bin %> os update-kernel tars-1a2b3c --module pong --file build/pong.elf --version 1.1.0'];
  static override args = { id: Args.string({ description: 'Deployment id', required: true }) };
  static override flags = {
    module: Flags.string({ char: 'm', description: 'Module (agent) name', required: true }),
    file: Flags.string({ description: 'Module ELF image (default: build the agent from the config)' }),
    version: Flags.string({ description: 'Version to record (default: the agent version in the config)' }),
    executor: executorFlag,
    timeout: timeoutFlag('Seconds to wait for the health verdict', 10),
  };

  async execute(): Promise<SwapResult> {
    const { config, root } = await this.loadConfig({ 'executor.default': this.flags.executor });
    const rec = await getDeployment(root, this.args.id);
    const agent = config.agents.find((a) => a.name === this.flags.module);
    let imagePath: string;
    if (this.flags.file) imagePath = resolve(this.flags.file);
    else {
      const step = createBuildPlan(config).steps.find((s) => s.id === agentComponentId(this.flags.module));
      if (!step) throw new AbortError(`No agent named ${this.flags.module} in the config`, { code: 'NOT_FOUND', tryMessage: 'Pass --file, or add the agent to tars.config.json.' });
      const cache = new ComponentCache(resolve(root, config.cache.dir), config.cache.maxSizeMb * 1024 * 1024);
      const built = await buildComponent(step, { root, config, cache, executor: config.executor.default, logDir: workspace(root).buildLogs, signal: this.signal });
      outputInfo(`${step.id}: ${built.executor === 'cache' ? 'cached' : `built (${built.executor})`}`);
      imagePath = join(root, step.outputs[0] as string);
    }
    const image = readFileSync(imagePath);
    const client = await deployerOf(rec).control(rec);
    try {
      const result = await hotSwapModule(client, {
        module: this.flags.module,
        image,
        version: this.flags.version ?? agent?.version ?? '0.0.0',
        timeoutMs: (this.flags.timeout ?? 10) * 1000,
        signal: this.signal,
        onProgress: (sent, total) => outputInfo(`sent ${sent}/${total} bytes`),
      });
      if (result.outcome === 'rolled_back') process.exitCode = EXIT_CODES.EXTERNAL;
      return result;
    } finally {
      client.close();
    }
  }

  protected render(r: SwapResult): void {
    if (r.outcome === 'swapped') {
      outputResult(`${r.module} ${r.version} (${r.sha256.slice(0, 16)}, ${r.size} bytes) swapped in: downtime ${r.downtimeUs} µs, transfer ${r.transferMs} ms, total ${r.totalMs} ms`);
    } else {
      outputResult(`${r.module} was NOT updated: ${r.reason}; the kernel rolled back and the previous version is still running`);
    }
  }
}
