import { Args, Flags } from '@oclif/core';
import { createProgress, EXIT_CODES, outputInfo, outputResult } from '@tars/core';
import { updateModule, type SwapResult } from '@tars/deploy';
import { BaseCommand } from '../../base-command.js';
import { executorFlag, timeoutFlag } from '../../flags.js';

export default class OsUpdateKernel extends BaseCommand<typeof OsUpdateKernel, SwapResult> {
  static override summary = 'Hot-swap a module in a running system';
  static override description =
    'Builds the module when no --file is given (through the cache), streams it to the kernel in chunks, and waits for the new module to report ready. Progress is one bar on a terminal, a line at each quarter when piped, nothing under --json. A CUDA module or a --file that is not a static x86-64 ELF is refused before anything is sent. If it faults or misses its health deadline the kernel rolls back, the old module keeps running, and this command exits 5.';
  static override examples = ['<%= config.bin %> os update-kernel tars-1a2b3c --module pong', '<%= config.bin %> os update-kernel tars-1a2b3c --module pong --file build/pong.elf --version 1.1.0'];
  static override args = { id: Args.string({ description: 'Deployment id (default: the only running one)' }) };
  static override flags = {
    module: Flags.string({ char: 'm', description: 'Module (agent) name', required: true }),
    file: Flags.string({ description: 'Module ELF image (default: build the agent from the config)' }),
    version: Flags.string({ description: 'Version to record (default: the agent version in the config)' }),
    executor: executorFlag,
    timeout: timeoutFlag('Seconds to wait for the health verdict', 10),
  };

  async execute(): Promise<SwapResult> {
    const { config, root } = await this.loadConfig({ 'executor.default': this.flags.executor });
    const progress = createProgress(`sending ${this.flags.module}`, { unit: 'bytes' });
    const result = await updateModule({
      root,
      config,
      deployment: await this.pickDeployment(root, this.args.id),
      module: this.flags.module,
      ...(this.flags.file ? { file: this.flags.file } : {}),
      ...(this.flags.version ? { version: this.flags.version } : {}),
      timeoutMs: (this.flags.timeout ?? 10) * 1000,
      signal: this.signal,
      onInfo: outputInfo,
      onProgress: (sent, total) => progress.update(sent, total),
    }).finally(() => progress.end());
    if (result.outcome === 'rolled_back') process.exitCode = EXIT_CODES.EXTERNAL;
    return result;
  }

  protected render(r: SwapResult): void {
    if (r.outcome === 'swapped') {
      outputResult(`${r.module} ${r.version} (${r.sha256.slice(0, 16)}, ${r.size} bytes) swapped in: downtime ${r.downtimeUs} µs, transfer ${r.transferMs} ms, total ${r.totalMs} ms`);
    } else {
      outputResult(`${r.module} was NOT updated: ${r.reason}; the kernel rolled back and the previous version is still running`);
    }
  }
}
