import { Args, Flags } from '@oclif/core';
import { isJsonMode } from '@tars/core';
import { deployerOf, getDeployment } from '@tars/deploy';
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { BaseCommand, sleep } from '../../base-command.js';

interface ConsoleResult {
  id: string;
  bytes: number;
}

export default class OsConsole extends BaseCommand<typeof OsConsole, ConsoleResult> {
  static override summary = "Attach to a deployment's serial console (COM1), from boot, until Ctrl-C";
  static override description =
    'Prints the raw serial stream as the machine writes it — firmware and GRUB output, kernel events, panics — and keeps following it until the machine stops or Ctrl-C (exit 0). Read-only: TARS takes no input on COM1; the control channel (COM2) is what `os diagnostics` and `os update-kernel` use. `os logs` shows the same stream parsed into events. With --json each line is a JSON object {"line": …}.';
  static override examples = ['<%= config.bin %> os console tars-1a2b3c', '<%= config.bin %> os console tars-1a2b3c --no-follow'];
  static override args = { id: Args.string({ description: 'Deployment id (default: the only running one)' }) };
  static override flags = {
    follow: Flags.boolean({ char: 'f', description: 'Keep following until the machine stops or Ctrl-C (--no-follow: print what is there and exit)', default: true, allowNo: true }),
  };

  async execute(): Promise<ConsoleResult> {
    const { root } = await this.loadConfig();
    const rec = await getDeployment(root, this.args.id);
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
    while (this.flags.follow && !this.signal.aborted && (await deployer.alive(rec))) {
      await sleep(100, this.signal);
      drain();
    }
    drain();
    return { id: rec.id, bytes: offset };
  }

  protected render(): void {}
}
