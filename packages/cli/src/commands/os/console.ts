import { Args, Flags } from '@oclif/core';
import { isJsonMode } from '@tars/core';
import { deployerOf, followDeployment } from '@tars/deploy';
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { BaseCommand } from '../../base-command.js';

interface ConsoleResult {
  id: string;
  bytes: number;
}

export default class OsConsole extends BaseCommand<typeof OsConsole, ConsoleResult> {
  static override summary = "Attach to a deployment's serial console (COM1), from the kernel's first line, until Ctrl-C";
  static override description =
    'Prints the raw serial stream as the kernel writes it — every line the kernel wrote since it started (events, panics, lines that are not events) — and keeps following it until Ctrl-C (exit 0); the machine stopping (it exited, or `os stop` ran elsewhere) ends it with an error (exit 6). COM1 carries the kernel only: the firmware and GRUB are kept off it, so nothing from before the kernel starts is shown. Read-only: TARS takes no input on COM1; the control channel (COM2) is what `os diagnostics` and `os update-kernel` use. `os logs` shows the same stream parsed into events. With --json each line is a JSON object {"line": …}.';
  static override examples = ['<%= config.bin %> os console tars-1a2b3c', '<%= config.bin %> os console tars-1a2b3c --no-follow'];
  static override args = { id: Args.string({ description: 'Deployment id (default: the only running one)' }) };
  static override flags = {
    follow: Flags.boolean({ char: 'f', description: 'Keep following until the machine stops or Ctrl-C (--no-follow: print what is there and exit)', default: true, allowNo: true }),
  };

  async execute(): Promise<ConsoleResult> {
    const root = await this.projectRoot();
    const rec = await this.pickDeployment(root, this.args.id);
    const deployer = deployerOf(rec);
    const events = deployer.events(rec);
    this.runsUntilInterrupted = this.flags.follow;
    let offset = 0;
    let rest = '';
    const drain = () => {
      if (!existsSync(events)) return;
      const size = statSync(events).size;
      if (size <= offset) return;
      const buf = Buffer.alloc(size - offset);
      const fd = openSync(events, 'r');
      try {
        readSync(fd, buf, 0, buf.length, offset);
      } finally {
        closeSync(fd);
      }
      offset = size;
      if (!isJsonMode()) {
        process.stdout.write(buf);
        return;
      }
      const lines = (rest + buf.toString('utf8')).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) process.stdout.write(`${JSON.stringify({ line: line.replace(/\r$/, '') })}\n`);
    };
    drain();
    if (this.flags.follow) await followDeployment(root, rec, { signal: this.signal, tick: drain });
    return { id: rec.id, bytes: offset };
  }

  protected render(): void {}
}
