import { Args, Flags } from '@oclif/core';
import { outputInfo, outputResult, outputWarn, outputWidth } from '@tars/core';
import { formatTraceSummary, traceDeployment, type TraceDeploymentResult } from '@tars/deploy';
import { BaseCommand } from '../../base-command.js';

export default class OsTrace extends BaseCommand<typeof OsTrace, TraceDeploymentResult> {
  static override summary = 'Trace a running system into a Chrome/Perfetto trace file';
  static override description =
    'Arms the kernel\'s trace ring for --duration seconds, reads it while it runs and writes FILE (Chrome JSON: open it in ui.perfetto.dev or chrome://tracing) with a track per task, running slices between context switches, system calls, and flows from each IPC call to its reply. --events, --task and --filter narrow what the kernel records (the filter is checked by the kernel before tracing starts: `kind == syscall && nr >= 0x1000 || task == 3`). Records lost to a full ring are counted and marked in the trace. --summary prints CPU per task (the busiest ten, the rest folded into one line; --json lists all), a latency histogram per system call, and the longest blocking chains: a task that waited for another\'s reply while that one waited for a third\'s reply or notify, and so on, ranked by the first task\'s blocked time.';
  static override examples = [
    '<%= config.bin %> os trace tars-1a2b3c -o trace.json',
    '<%= config.bin %> os trace tars-1a2b3c --duration 5 --events switch --events ipc --task 2 -o ipc.json --summary',
    "<%= config.bin %> os trace tars-1a2b3c --filter 'kind == syscall && nr >= 0x1000' -o calls.json --json",
  ];
  static override args = {
    id: Args.string({ description: 'Deployment id (see `tarscli os ps`)', required: true }),
  };
  static override flags = {
    output: Flags.string({ char: 'o', description: 'The trace file to write (Chrome/Perfetto JSON)', required: true }),
    duration: Flags.string({ char: 'd', description: 'Seconds to trace', default: '2' }),
    events: Flags.string({ description: 'Event kinds or groups: switch, sys_enter, sys_exit, ipc_call, ipc_reply, ipc_notify, page_fault, irq, spawn, exit, kill, swap; syscall, ipc, lifecycle (repeat; default: all)', multiple: true, multipleNonGreedy: true }),
    task: Flags.integer({ description: 'Only this task (display id; repeat for more)', multiple: true, multipleNonGreedy: true, min: 0 }),
    filter: Flags.string({ description: 'A filter expression the kernel runs on every record' }),
    size: Flags.integer({ description: 'Ring size in records (16-65536, rounded up to a power of two)', min: 16, max: 65536 }),
    summary: Flags.boolean({ description: 'Print CPU per task, a latency histogram per system call, the longest blocking chains and lost records', default: false }),
  };

  async execute(): Promise<TraceDeploymentResult> {
    const root = await this.projectRoot();
    const deployment = await this.pickDeployment(root, this.args.id);
    outputInfo(`Tracing ${deployment.id} for ${this.flags.duration} s…`);
    const r = await traceDeployment({
      deployment,
      file: this.flags.output,
      durationS: Number(this.flags.duration),
      // Ctrl-C ends the trace early: the kernel is told to stop and what was read is written.
      signal: this.signal,
      ...(this.flags.events ? { events: this.flags.events } : {}),
      ...(this.flags.task ? { tasks: this.flags.task } : {}),
      ...(this.flags.filter !== undefined ? { filter: this.flags.filter } : {}),
      ...(this.flags.size !== undefined ? { size: this.flags.size } : {}),
    });
    if (r.lost > 0) outputWarn(`${r.lost} records were lost to a full ring (marked "lost" in the trace): use a larger --size or a narrower --filter`);
    return r;
  }

  protected render(r: TraceDeploymentResult): void {
    outputResult(`${r.records} records (${r.lost} lost, ${r.filtered} filtered out) over ${r.durationS} s → ${r.file} (${r.traceEvents} trace events; open in ui.perfetto.dev)`);
    if (this.flags.summary) outputResult(formatTraceSummary(r.summary, r.lost, outputWidth()));
  }
}
