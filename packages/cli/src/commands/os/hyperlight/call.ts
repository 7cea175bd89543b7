import { Args, Flags } from '@oclif/core';
import { outputResult } from '@tars/core';
import { hyperlightCall, type HyperlightCallResult } from '@tars/deploy';
import { BaseCommand } from '../../../base-command.js';

export default class OsHyperlightCall extends BaseCommand<typeof OsHyperlightCall, HyperlightCallResult> {
  static override summary = 'Call a function of a sandboxed function module in a running system';
  static override description =
    "Hyperlight's model on TARS isolation (not the Hyperlight crates): the module is a guest image with `sandbox=yes` on its line. The kernel runs the call in the host's sandbox of that module (made on first use, kept between calls with its state). --args is a JSON array, checked before anything is sent against the function's signature in the image's manifest (`os hyperlight list` shows them): each element takes its parameter's type (integers and decimal strings for i32 u32 i64 u64, numbers for f32 f64, strings, base64 for bytes, booleans), or names it as {\"TYPE\": value}; a function the module does not export, a count or a type that differs is a one-line error (exit 2). With --restore the sandbox is snapshotted before its first such call and restored after each, so every call starts from the same state. A guest that faults, makes a system call or runs past its deadline poisons only its sandbox: the command exits 5 and the system runs on.";
  static override examples = [
    '<%= config.bin %> os hyperlight call tars-1a2b3c --module sb-guest --function sum --args \'[2, 40]\'',
    '<%= config.bin %> os hyperlight call tars-1a2b3c --module sb-guest --function counter --restore --json',
  ];
  static override args = {
    id: Args.string({ description: 'Deployment id (see `tarscli os ps`)', required: true }),
  };
  static override flags = {
    module: Flags.string({ description: 'The function module (a module line with sandbox=yes)', required: true }),
    function: Flags.string({ description: 'The function the guest exports', required: true }),
    args: Flags.string({ description: 'The arguments, a JSON array', default: '[]' }),
    restore: Flags.boolean({ description: 'Restore the sandbox to its snapshot after the call (and before it, when poisoned)', default: false }),
  };

  async execute(): Promise<HyperlightCallResult> {
    const root = await this.projectRoot();
    return hyperlightCall({ deployment: await this.pickDeployment(root, this.args.id), module: this.flags.module, function: this.flags.function, args: this.flags.args, restore: this.flags.restore });
  }

  protected render(r: HyperlightCallResult): void {
    const v = r.result.type === 'void' ? 'void' : `${JSON.stringify(r.result.value)} (${r.result.type})`;
    outputResult(`${r.module}.${r.function} → ${v}${r.restored ? ' · sandbox restored' : ''}`);
  }
}
