import { Args, Flags } from '@oclif/core';
import { outputResult } from '@tars/core';
import { gdbBatch, gdbSession, type GdbBatchResult } from '@tars/deploy';
import { BaseCommand } from '../../base-command.js';

export default class OsGdb extends BaseCommand<typeof OsGdb, GdbBatchResult | { deployment: string; exitCode: number }> {
  static override summary = 'Debug a running system with gdb (QEMU gdb stub, kernel and module symbols)';
  static override description =
    "Starts gdb against the deployment's QEMU gdb stub with the kernel's symbols and those of each --module (the debug files the build kept beside the image), so `bt` shows source lines in the kernel and in those agents. TARS agents are each linked where they run, all at the same address in their own address spaces: name the module you are looking at. A Linux executable's (C, NativeAOT C# and F#) go at the load bias the kernel's loader gives it, computed from its ELF in the image (--offset overrides it, as fault records show it), so `bt` shows its frames. With --batch the commands run and gdb detaches: the system runs on. Interactive sessions stop the system while gdb holds it; `detach` or quitting lets it run again.";
  static override examples = [
    '<%= config.bin %> os gdb tars-1a2b3c --module pong',
    '<%= config.bin %> os gdb tars-1a2b3c --batch "info registers rip" --batch bt',
    '<%= config.bin %> os gdb tars-1a2b3c --module hello-cs --batch "break Agents_HelloCsAgent__Step" --batch continue --batch bt',
    '<%= config.bin %> os gdb tars-1a2b3c --module hello-c --offset 0x40400000 --batch "info symbol $pc" --json',
  ];
  static override args = {
    id: Args.string({ description: 'Deployment id (see `tarscli os ps`)', required: true }),
  };
  static override flags = {
    module: Flags.string({ description: 'A module whose symbols to load (repeat)', multiple: true }),
    offset: Flags.string({ description: "Load bias of a Linux executable module's symbols (default: the loader's, from its ELF; e.g. 0x40400000)" }),
    batch: Flags.string({ description: 'A gdb command to run (repeat); then gdb detaches and the system runs on', multiple: true }),
  };

  async execute(): Promise<GdbBatchResult | { deployment: string; exitCode: number }> {
    const root = await this.projectRoot();
    const deployment = await this.pickDeployment(root, this.args.id);
    const offset = this.flags.offset !== undefined ? parseOffset(this.flags.offset) : undefined;
    const base = { deployment, ...(this.flags.module ? { modules: this.flags.module } : {}), ...(offset !== undefined ? { offset } : {}) };
    if (this.flags.batch?.length) return gdbBatch({ ...base, batch: this.flags.batch });
    const exitCode = await gdbSession(base);
    if (exitCode !== 0) process.exitCode = exitCode;
    return { deployment: deployment.id, exitCode };
  }

  protected render(r: GdbBatchResult | { deployment: string; exitCode: number }): void {
    if ('output' in r) outputResult(r.output.trimEnd());
  }
}

function parseOffset(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--offset must be a whole number, decimal or 0x… (got: ${text})`);
  return n;
}
