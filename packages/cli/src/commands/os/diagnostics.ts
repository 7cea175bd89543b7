import { Args, Flags } from '@oclif/core';
import { color, formatTable, isJsonMode, outputResult } from '@tars/core';
import { collectDiagnostics, deployerOf, faultLabel, formatFrames, getDeployment, linuxSyscallName, type DiagnosticsReport } from '@tars/deploy';
import { BaseCommand, sleep } from '../../base-command.js';

const ALT_SCREEN_ON = '\u001B[?1049h\u001B[?25l';
const ALT_SCREEN_OFF = '\u001B[?25h\u001B[?1049l';
const HOME_AND_CLEAR = '\u001B[H\u001B[J';

export default class OsDiagnostics extends BaseCommand<typeof OsDiagnostics, DiagnosticsReport> {
  static override summary = 'Live view of a running system through the kernel control channel';
  static override description = 'Uptime, memory, tasks with state and CPU time, scheduler and IPC counters and cycle figures, modules with versions and hashes, faults, the log ring, and host-side checks.';
  static override examples = ['<%= config.bin %> os diagnostics', '<%= config.bin %> os diagnostics tars-1a2b3c --json', '<%= config.bin %> os diagnostics --watch'];
  static override args = { id: Args.string({ description: 'Deployment id (default: the only running one)' }) };
  static override flags = {
    watch: Flags.boolean({ char: 'w', description: 'Refresh every second like top, in place on a terminal (Ctrl-C quits, exit 0)', default: false }),
  };

  async execute(): Promise<DiagnosticsReport> {
    const { root } = await this.loadConfig();
    const rec = await getDeployment(root, this.args.id);
    if (!this.flags.watch) return collectDiagnostics(rec);
    this.runsUntilInterrupted = true;
    // On a terminal, redraw in place on the alternate screen (like top); the scrollback is left as it was.
    const screen = !isJsonMode() && Boolean(process.stdout.isTTY);
    const client = await deployerOf(rec).control(rec);
    if (screen) process.stdout.write(ALT_SCREEN_ON);
    try {
      let last: DiagnosticsReport | undefined;
      while (!this.signal.aborted) {
        last = await collectDiagnostics(rec, client);
        if (isJsonMode()) process.stdout.write(`${JSON.stringify(last)}\n`);
        else {
          if (screen) process.stdout.write(HOME_AND_CLEAR);
          this.render(last);
        }
        await sleep(1000, this.signal);
      }
      return last as DiagnosticsReport;
    } finally {
      if (screen) process.stdout.write(ALT_SCREEN_OFF);
      client.close();
    }
  }

  protected render(d: DiagnosticsReport): void {
    const s = d.stats;
    const mb = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
    outputResult(
      `${color.bold(d.deployment.id)}  kernel ${d.kernel.kernel} (protocol ${d.kernel.protocol})  uptime ${(s.uptime_us / 1e6).toFixed(2)} s  ready at ${(s.ready_us / 1000).toFixed(1)} ms  qemu ${d.host.qemuAlive ? 'alive' : 'DEAD'} (${d.host.accel}, ${d.deployment.engine})  control rtt ${d.controlRttMs} ms`,
    );
    outputResult(`memory: ${mb(s.memory.used_bytes)} used, ${mb(s.memory.free_bytes)} free; heap ${s.memory.heap_used}/${s.memory.heap_total} B`);
    outputResult(
      formatTable(
        ['id', 'task', 'state', 'level', 'cpu', 'switches', 'syscalls', 'ipc'],
        s.tasks.map((t) => [String(t.id), t.name, t.state, `${t.level}/${t.base_level}`, `${(t.cpu_us / 1000).toFixed(1)} ms`, String(t.switches), String(t.syscalls), String(t.ipc_calls)]),
      ),
    );
    outputResult(
      `scheduler: ${s.scheduler.context_switches} switches (${s.scheduler.switch_cycles_min}/${s.scheduler.switch_cycles_avg} cycles min/avg), ${s.scheduler.idle_ticks} idle ticks of ${s.ticks}; ipc: ${s.ipc.calls} calls, ${s.ipc.replies} replies, ${s.ipc.notifications} notifications, ${s.ipc.shm_maps} shm maps`,
    );
    const metrics = Object.entries(s.metrics);
    if (metrics.length) outputResult(`metrics: ${metrics.map(([k, v]) => `${k}=${v}`).join('  ')}`);
    outputResult(formatTable(['module', 'version', 'state', 'sha256', 'size'], d.modules.map((m) => [m.name, m.version, m.state, m.sha256.slice(0, 16), String(m.size)])));
    outputResult(
      formatTable(
        ['module', 'on fault', 'restarts', 'last fault'],
        d.supervision.map((m) => [m.module, m.policy, String(m.restarts), m.lastFault ? `${faultLabel(m.lastFault.vector)} at ${m.lastFault.frames[0]?.location ?? m.lastFault.rip}` : '-']),
      ),
    );
    const linux = d.modules.filter((m) => m.abi === 'linux');
    if (linux.length) {
      const kib = (n?: number) => (n === undefined ? '-' : `${(n / 1024).toFixed(1)} MiB`);
      outputResult(
        formatTable(
          ['linux agent', 'pid', 'threads', 'memory', 'peak', 'limit', 'ENOSYS (call×count)'],
          linux.map((m) => [m.name, String(m.pid ?? '-'), String(m.threads ?? 0), kib(m.mem_kib), kib(m.peak_kib), m.limit_kib ? kib(m.limit_kib) : 'none', (m.enosys ?? []).map((e) => `${linuxSyscallName(e.nr)}(${e.nr})×${e.count}`).join(' ') || '-']),
        ),
      );
    }
    if (s.fault_count > 0) {
      outputResult(color.red(`faults (${s.fault_count}):`));
      for (const f of d.faults) {
        outputResult(`  ${f.name} (task ${f.task}) ${faultLabel(f.vector)} (vector ${f.vector}) cr2 ${f.cr2} error ${f.error} rsp ${f.rsp ?? '?'} rbp ${f.rbp ?? '?'}`);
        outputResult(formatFrames(f.frames).map((l) => `  ${l}`).join('\n'));
      }
    }
    outputResult(`log (last ${Math.min(8, d.log.length)}):\n${d.log.slice(-8).map((l) => `  ${(l.t_us / 1000).toFixed(1).padStart(9)} ms  ${l.line}`).join('\n')}`);
  }
}
