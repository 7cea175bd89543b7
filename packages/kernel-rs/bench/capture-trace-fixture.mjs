// Capture the trace-decoder fixture (packages/deploy/src/trace/fixtures/ping-pong.json): one
// `trace_read` page a kernel produced while ping and pong ran, with the task ids.
//   node bench/capture-trace-fixture.mjs   (after scripts/build.sh)
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProtocolClient, startQemu } from '@tars/deploy';

const OUT = fileURLToPath(new URL('../out/', import.meta.url));
const MODULES = [
  { path: `${OUT}agents/pong.elf`, args: 'name=pong version=1.0.0 prio=2 serve=echo shm=tensor notify=ready' },
  { path: `${OUT}agents/ping.elf`, args: 'name=ping version=1.0.0 prio=3 call=echo shm=tensor notify=ready' },
];
const q = startQemu({ kernel: `${OUT}tars-kernel.elf`, modules: MODULES, accel: 'tcg', memoryMb: 256 }, mkdtempSync(join(tmpdir(), 'tars-fixture-')));
try {
  await q.waitFor((e) => e.ev === 'ready', { timeoutMs: 30_000 });
  await q.waitFor((e) => e.ev === 'metric' && e.name === 'ipc_rtt_cycles_min', { timeoutMs: 60_000 });
  const c = await ProtocolClient.connect(q.paths.control);
  const { tasks } = await c.allTasks();
  // Everything but the timer, so that a page holds a few ping/pong round trips.
  const started = await c.request('trace_start', { events: ['switch', 'syscall', 'ipc', 'page_fault', 'lifecycle', 'swap'], size: 256 });
  await sleep(1500);
  await c.request('trace_stop');
  const page = await c.request('trace_read', { offset: 0 });
  c.close();
  const file = fileURLToPath(new URL('../../deploy/src/trace/fixtures/ping-pong.json', import.meta.url));
  writeFileSync(file, `${JSON.stringify({ tasks: Object.fromEntries(tasks.map((t) => [t.name, t.id])), tsc_per_us: started.tsc_per_us, start_tsc: started.start_tsc, page }, null, 1)}\n`);
  console.log(`wrote ${file}: ${page.count} records`);
} finally {
  await q.stop();
}
