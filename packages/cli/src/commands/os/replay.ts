import { Args, Flags } from '@oclif/core';
import { AbortError, EXIT_CODES, isJsonMode, outputInfo, outputResult } from '@tars/core';
import { formatEvent, formatFrames, replayDeployment, symbolizerForImage, type KernelEvent, type ReplayResult } from '@tars/deploy';
import { BaseCommand } from '../../base-command.js';
import { timeoutFlag } from '../../flags.js';

export default class OsReplay extends BaseCommand<typeof OsReplay, ReplayResult> {
  static override summary = 'Play a recorded run (`os deploy --record`) back deterministically, optionally under gdb';
  static override description =
    "QEMU replays the recorded deployment's log: the guest executes the same instructions with the same inputs (serial input, timer interrupts, clocks) at the same instruction counts, so it prints the same events and faults at the same addresses. The replayed events are compared line by line with the recorded run's; a difference exits 7. The deployment must have stopped (`os stop` completes the log). --gdb holds the replayed guest at its first instruction for gdb with the kernel's and each --module's symbols; --batch runs gdb commands, then detaches and the replay runs to its end.";
  static override examples = [
    '<%= config.bin %> os replay tars-1a2b3c',
    '<%= config.bin %> os replay tars-1a2b3c --json',
    '<%= config.bin %> os replay tars-1a2b3c --gdb --module faulty',
    '<%= config.bin %> os replay tars-1a2b3c --module faulty --batch "break faulty::main" --batch continue --batch bt',
  ];
  static override args = { id: Args.string({ description: 'A recorded deployment (see `tarscli os ps`)', required: true }) };
  static override flags = {
    gdb: Flags.boolean({ description: 'Stop the replayed guest at its first instruction and start gdb on it', default: false }),
    module: Flags.string({ description: 'A module whose symbols gdb loads (repeat; with --gdb or --batch)', multiple: true }),
    offset: Flags.string({ description: "Load bias of a Linux executable module's symbols for gdb (e.g. 0x400000)" }),
    batch: Flags.string({ description: 'A gdb command to run on the replay (repeat; implies --gdb); then gdb detaches and the replay runs on', multiple: true }),
    timeout: timeoutFlag('Seconds the replay may take (default: twice the recorded run, plus a minute)'),
  };

  async execute(): Promise<ReplayResult> {
    const { root } = await this.loadConfig();
    const { getDeployment } = await import('@tars/deploy');
    const deployment = await getDeployment(root, this.args.id, { command: 'os replay', stoppedRecordings: true });
    const useGdb = this.flags.gdb || Boolean(this.flags.batch?.length);
    if (!useGdb && (this.flags.module || this.flags.offset)) throw new AbortError('--module and --offset load symbols for gdb: add --gdb or --batch', { code: 'USAGE' });
    const offset = this.flags.offset !== undefined ? parseOffset(this.flags.offset) : undefined;
    const r = deployment.recording;
    const recordedMs = r?.stoppedAt ? Date.parse(r.stoppedAt) - Date.parse(deployment.createdAt) : 0;
    const symbolizer = symbolizerForImage(deployment.image.dir);
    // Printed in order: a fault waits for its symbols, the events after it wait for the fault.
    let shown = Promise.resolve();
    const onEvent = (e: KernelEvent): void => {
      symbolizer.learn([e]);
      if (isJsonMode()) return;
      shown = shown.then(async () => {
        const frames = e.ev === 'fault' ? await symbolizer.fault(e) : [];
        outputInfo(formatEvent(e));
        for (const line of formatFrames(frames)) outputInfo(line);
      });
    };
    const result = await replayDeployment({
      deployment,
      timeoutMs: this.flags.timeout !== undefined ? this.flags.timeout * 1000 : 2 * Math.max(0, recordedMs) + 60_000,
      signal: this.signal,
      onEvent,
      ...(useGdb ? { gdb: { ...(this.flags.module ? { modules: this.flags.module } : {}), ...(offset !== undefined ? { offset } : {}), ...(this.flags.batch?.length ? { batch: this.flags.batch } : {}) } } : {}),
    });
    await shown;
    for (const f of result.faults) f['frames'] = await symbolizer.fault(f);
    if (!result.identical) process.exitCode = EXIT_CODES.CHECK_FAILED;
    return result;
  }

  protected render(r: ReplayResult): void {
    if (r.gdb?.output) outputResult(r.gdb.output.trimEnd());
    const secs = (r.wallMs / 1000).toFixed(1);
    if (r.identical) {
      outputResult(`${r.deployment}: replayed ${r.replayedEvents} events in ${secs} s, identical to the recorded run (${r.faults.length} ${r.faults.length === 1 ? 'fault' : 'faults'}); replay in ${r.replayDir}`);
      return;
    }
    const d = r.firstDifference;
    outputResult(`${r.deployment}: the replay DIFFERS from the recorded run at event ${d ? d.index + 1 : '?'} (${r.replayedEvents} replayed, ${r.recordedEvents} recorded)`);
    if (d) {
      outputResult(`  recorded: ${d.recorded ?? '(none)'}`);
      outputResult(`  replayed: ${d.replayed ?? '(none)'}`);
    }
  }
}

function parseOffset(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--offset must be a whole number, decimal or 0x… (got: ${text})`);
  return n;
}
