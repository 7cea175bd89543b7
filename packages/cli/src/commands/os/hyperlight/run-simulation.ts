import { Flags } from '@oclif/core';
import { createProgress, outputInfo, outputResult } from '@tars/core';
import { hyperlightRunSimulation, type RunSimulationResult } from '@tars/deploy';
import { BaseCommand } from '../../../base-command.js';
import { formatFlag } from '../../../flags.js';

export default class OsHyperlightRunSimulation extends BaseCommand<typeof OsHyperlightRunSimulation, RunSimulationResult> {
  static override summary = "A multi-agent run whose policies are sandboxed guest functions, the environment on the GPU module";
  static override description =
    "N agents on the grid world of `os simulate` (16×16 torus, food shared by the agents that reach it together). Every iteration, each agent's action is a call of the guest function --function (u32 cell, u32 seed) -> u32 of the function module --module, in the running system's sandbox of that module; the environment then steps all agents on the GPU module (marl_env_step) when a GPU answers, else on its CPU reference. Without --deployment the built image is booted for the run and stopped after. Reports the mean reward per iteration (in food units), the share of agent-steps on food, and the mean time of a policy call and of an environment step. Progress is a bar on a terminal, nothing under --json.";
  static override examples = ['<%= config.bin %> os hyperlight run-simulation --module policy --agents 8 --iterations 20', '<%= config.bin %> os hyperlight run-simulation --deployment tars-1a2b3c --module policy --agents 4 --iterations 10 --device cpu --json'];
  static override flags = {
    module: Flags.string({ char: 'm', description: 'The function module whose function is the policy', required: true }),
    function: Flags.string({ description: 'The policy: (u32 cell, u32 seed) -> u32 action (0 right, 1 left, 2 down, 3 up, 4 stay)', default: 'policy' }),
    agents: Flags.integer({ description: 'Number of agents', default: 8, min: 1, max: 1024 }),
    iterations: Flags.integer({ description: 'Environment steps', default: 20, min: 1, max: 100_000 }),
    device: Flags.string({ description: 'Where the environment steps (auto: the GPU when one answers, else the CPU reference)', options: ['auto', 'gpu', 'cpu'], default: 'auto' }),
    seed: Flags.integer({ description: 'Random seed (same seed, same run)', default: 1, min: 0, max: 4294967295 }),
    deployment: Flags.string({ description: 'A running deployment to use (default: boot the built image for the run, stop it after)' }),
    format: formatFlag,
  };

  async execute(): Promise<RunSimulationResult> {
    const { config, root } = await this.loadConfig({ 'image.format': this.flags.format });
    const deployment = this.flags.deployment ? await this.pickDeployment(root, this.flags.deployment) : undefined;
    const progress = createProgress('iteration');
    return hyperlightRunSimulation({
      root,
      config,
      ...(deployment ? { deployment } : {}),
      module: this.flags.module,
      function: this.flags.function,
      agents: this.flags.agents,
      iterations: this.flags.iterations,
      seed: this.flags.seed,
      device: this.flags.device as 'auto' | 'gpu' | 'cpu',
      signal: this.signal,
      onInfo: outputInfo,
      onProgress: (it, reward) => progress.update(it + 1, this.flags.iterations, `mean reward ${reward.toFixed(4)}`),
    }).finally(() => progress.end());
  }

  protected render(r: RunSimulationResult): void {
    const tenth = Math.max(1, Math.floor(r.curve.length / 10));
    const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    outputResult(`${r.agents} agents × ${r.iterations} iterations: policy ${r.module}.${r.function} in a sandbox of ${r.deployment}${r.booted ? ' (booted for the run, stopped)' : ''}, environment on ${r.device} (${r.deviceName})`);
    outputResult(`${r.calls} guest calls, ${r.callMeanUs} µs each on average; environment step ${r.stepMeanUs} µs; ${r.elapsedMs} ms in all`);
    outputResult(`mean reward ${avg(r.curve.slice(0, tenth)).toFixed(4)} over the first tenth → ${avg(r.curve.slice(-tenth)).toFixed(4)} over the last; ${(r.onFood * 100).toFixed(1)}% of agent-steps on food`);
  }
}
