import { Args, Flags } from '@oclif/core';
import { color, formatTable, isJsonMode, outputResult } from '@tars/core';
import { collectDiagnostics, deployerOf, deploymentGone, faultLabel, followDeployment, formatFrames, hiddenTasksLine, linuxSyscallName, summarizeTasks, TASK_COLUMNS, TASK_COLUMNS_OPTIONAL, taskRow, type DiagnosticsReport } from '@tars/deploy';
import { BaseCommand } from '../../base-command.js';

const ALT_SCREEN_ON = '\u001B[?1049h\u001B[?25l';
const ALT_SCREEN_OFF = '\u001B[?25h\u001B[?1049l';
const HOME_AND_CLEAR = '\u001B[H\u001B[J';

export default class OsDiagnostics extends BaseCommand<typeof OsDiagnostics, DiagnosticsReport> {
  static override summary = 'Live view of a running system through the kernel control channel';
  static override description = 'Uptime, memory, tasks with state and CPU time, scheduler and IPC counters and cycle figures, modules with versions and hashes, faults, the log ring, and host-side checks.';
  static override examples = ['<%= config.bin %> os diagnostics', '<%= config.bin %> os diagnostics tars-1a2b3c --json', '<%= config.bin %> os diagnostics --watch'];
  static override args = { id: Args.string({ description: 'Deployment id (default: the only running one)' }) };
  static override flags = {
    watch: Flags.boolean({ char: 'w', description: 'Refresh every second like top, in place on a terminal, fitted to its height (q or Ctrl-C quits, exit 0)', default: false }),
  };

  async execute(): Promise<DiagnosticsReport> {
    const root = await this.projectRoot();
    const rec = await this.pickDeployment(root, this.args.id);
    if (!this.flags.watch) return collectDiagnostics(rec);
    this.runsUntilInterrupted = true;
    // On a terminal, redraw in place on the alternate screen (like top); the scrollback is left as it was.
    const screen = !isJsonMode() && Boolean(process.stdout.isTTY);
    const deployer = deployerOf(rec);
    const client = await deployer.control(rec);
    // `q` (or Ctrl-C, which raw mode delivers as a byte) quits, like top.
    const quit = new AbortController();
    const signal = AbortSignal.any([this.signal, quit.signal]);
    const keys = screen && process.stdin.isTTY ? listenForQuit(() => quit.abort()) : undefined;
    if (screen) process.stdout.write(ALT_SCREEN_ON);
    let last: DiagnosticsReport | undefined;
    try {
      await followDeployment(root, rec, {
        signal,
        intervalMs: 1000,
        tick: async () => {
          if (signal.aborted) return;
          try {
            last = await collectDiagnostics(rec, client);
          } catch (err) {
            // The control channel closing because the machine died is the machine's exit, said
            // as plain `os diagnostics` says it; anything else is what it is.
            if (!(await deployer.alive(rec))) throw await deploymentGone(root, rec);
            throw err;
          }
          if (isJsonMode()) process.stdout.write(`${JSON.stringify(last)}\n`);
          else {
            if (screen) process.stdout.write(HOME_AND_CLEAR);
            this.render(last, screen ? { rows: (process.stdout.rows ?? 24) - 1, columns: process.stdout.columns ?? 80 } : undefined);
          }
        },
      });
      return last as DiagnosticsReport;
    } finally {
      keys?.();
      if (screen) process.stdout.write(ALT_SCREEN_OFF);
      client.close();
    }
  }

  /** The report; with `rows` (a --watch screen) it is fitted to that many lines. */
  protected render(d: DiagnosticsReport, screen?: { rows: number; columns: number }): void {
    const lines = fitToRows(diagnosticsSections(d), screen?.rows, screen?.columns);
    if (lines.length) outputResult(lines.join('\n'));
  }
}

/** Call `onQuit` on `q` or Ctrl-C typed on the terminal (raw mode); returns the function that stops listening. */
function listenForQuit(onQuit: () => void): () => void {
  const stdin = process.stdin;
  const onData = (b: Buffer) => {
    if (b.includes(0x71) || b.includes(0x51) || b.includes(0x03)) onQuit(); // q, Q, Ctrl-C
  };
  stdin.setRawMode(true);
  stdin.on('data', onData);
  stdin.resume();
  return () => {
    stdin.off('data', onData);
    stdin.setRawMode(false);
    stdin.pause();
  };
}

/** A part of the report: `keep` is the fewest lines it may shrink to (0: it can go), `order` who shrinks first. */
interface Section {
  lines: string[];
  /** Lines kept at the least: its heading and first rows, or 0 when the section can be dropped. */
  keep: number;
  /** Lower gives way first. */
  order: number;
}

/**
 * Fit the sections to `rows`: the least useful give way first — the log shrinks, then the
 * tables lose their last rows, then whole sections go — so the header and tasks at the top are
 * never cut. A shrunk section says how much it left out.
 */
export function fitToRows(sections: Section[], rows: number | undefined, columns = Number.POSITIVE_INFINITY): string[] {
  // A line longer than the terminal is as wide takes several rows.
  const height = (line: string) => Math.max(1, Math.ceil(line.replace(/\u001B\[[0-9;]*m/g, '').length / columns));
  const more = (n: number) => color.dim(`  … ${n} more (a taller terminal shows them)`);
  const parts = sections.map((s) => ({ ...s, shown: s.lines.length }));
  const render = (p: (typeof parts)[number]) => (p.shown >= p.lines.length ? p.lines : p.shown === 0 ? [] : [...p.lines.slice(0, p.shown), more(p.lines.length - p.shown)]);
  const total = () => parts.reduce((n, p) => n + render(p).reduce((m, l) => m + height(l), 0), 0);
  if (rows !== undefined) {
    for (const p of [...parts].sort((a, b) => a.order - b.order)) {
      while (total() > rows && p.shown > p.keep) {
        p.shown--;
        // A droppable section shrunk to its heading alone says nothing: it goes.
        if (p.keep === 0 && p.shown < 2) p.shown = 0;
      }
      if (total() <= rows) break;
    }
  }
  return parts.flatMap(render);
}

function diagnosticsSections(d: DiagnosticsReport): Section[] {
  const s = d.stats;
  const mb = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
  const table = (head: string[], body: string[][], optional: string[] = []) => formatTable(head, body, undefined, optional).split('\n');
  const out: Section[] = [];
  out.push({
    order: 99,
    keep: 2,
    lines: [
      `${color.bold(d.deployment.id)}  kernel ${d.kernel.kernel} (protocol ${d.kernel.protocol})  uptime ${(s.uptime_us / 1e6).toFixed(2)} s  ready at ${(s.ready_us / 1000).toFixed(1)} ms  qemu ${d.host.qemuAlive ? 'alive' : 'DEAD'} (${d.host.accel}, ${d.deployment.engine})  control rtt ${d.controlRttMs} ms`,
      `memory: ${mb(s.memory.used_bytes)} used, ${mb(s.memory.free_bytes)} free; heap ${s.memory.heap_used}/${s.memory.heap_total} B`,
    ],
  });
  // With many spawned tasks: those started at boot, the parents and the first others; the rest counted by module (--json has all).
  const summary = summarizeTasks(s.tasks);
  const more = hiddenTasksLine(summary);
  const tasks = [...table(TASK_COLUMNS, summary.shown.map(taskRow), TASK_COLUMNS_OPTIONAL), ...(more ? [more] : [])];
  out.push({ order: 50, keep: Math.min(tasks.length, 6), lines: tasks });
  out.push({
    order: 40,
    keep: 0,
    lines: [
      `scheduler: ${s.scheduler.context_switches} switches (${s.scheduler.switch_cycles_min}/${s.scheduler.switch_cycles_avg} cycles min/avg), ${s.scheduler.idle_ticks} idle ticks of ${s.ticks}; ipc: ${s.ipc.calls} calls, ${s.ipc.replies} replies, ${s.ipc.notifications} notifications, ${s.ipc.shm_maps} shm maps`,
    ],
  });
  const metrics = Object.entries(s.metrics);
  if (metrics.length) out.push({ order: 10, keep: 0, lines: [`metrics: ${metrics.map(([k, v]) => `${k}=${v}`).join('  ')}`] });
  out.push({ order: 30, keep: 0, lines: table(['module', 'version', 'state', 'sha256', 'size'], d.modules.map((m) => [m.name, m.version, m.state, m.sha256.slice(0, 16), String(m.size)])) });
  out.push({
    order: 20,
    keep: 0,
    lines: table(
      ['module', 'on fault', 'restarts', 'last fault'],
      d.supervision.map((m) => [m.module, m.policy, String(m.restarts), m.lastFault ? `${faultLabel(m.lastFault.vector)} at ${m.lastFault.frames[0]?.location ?? m.lastFault.rip}` : '-']),
    ),
  });
  const linux = d.modules.filter((m) => m.abi === 'linux');
  if (linux.length) {
    const kib = (n?: number) => (n === undefined ? '-' : `${(n / 1024).toFixed(1)} MiB`);
    out.push({
      order: 25,
      keep: 0,
      lines: table(
        ['linux agent', 'pid', 'threads', 'memory', 'peak', 'limit', 'ENOSYS (call×count)'],
        linux.map((m) => [m.name, String(m.pid ?? '-'), String(m.threads ?? 0), kib(m.mem_kib), kib(m.peak_kib), m.limit_kib ? kib(m.limit_kib) : 'none', (m.enosys ?? []).map((e) => `${linuxSyscallName(e.nr)}(${e.nr})×${e.count}`).join(' ') || '-']),
      ),
    });
  }
  if (s.fault_count > 0) {
    const lines = [color.red(`faults (${s.fault_count}):`)];
    for (const f of d.faults) {
      lines.push(`  ${f.name} (task ${f.task}) ${faultLabel(f.vector)} (vector ${f.vector}) cr2 ${f.cr2} error ${f.error} rsp ${f.rsp ?? '?'} rbp ${f.rbp ?? '?'}`);
      lines.push(...formatFrames(f.frames).map((l) => `  ${l}`));
    }
    out.push({ order: 60, keep: Math.min(lines.length, 3), lines });
  }
  const log = d.log.slice(-8);
  out.push({ order: 5, keep: 0, lines: [`log (last ${log.length}):`, ...log.map((l) => `  ${(l.t_us / 1000).toFixed(1).padStart(9)} ms  ${l.line}`)] });
  return out;
}
