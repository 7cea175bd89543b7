// Sandbox figures (issue 26: Hyperlight's model on TARS isolation) in one boot under TCG with
// -icount shift=0, so a TSC delta is an instruction count: agents/sb-owner's bench scenario
// (minimum of 200 rounds for the calls) against the IPC call+reply round trip to pong measured in
// the same run, then the latency of the host's kill of a guest context mid-call (this script sends
// the kill through the control channel; the owner measures from the kernel's stamp to running).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProtocolClient, startQemu } from '@tars/deploy';
import { recordFigures } from '../../../scripts/bench-record.mjs';

const OUT = fileURLToPath(new URL('../out/', import.meta.url));
const MODULES = [
  { path: `${OUT}agents/pong.elf`, args: 'name=pong version=1.0.0 prio=2 serve=echo shm=tensor notify=ready' },
  { path: `${OUT}agents/sb-guest.elf`, args: 'name=sb-guest version=1.0.0 boot=no sandbox=yes' },
  { path: `${OUT}agents/sb-pages.elf`, args: 'name=sb-pages version=1.0.0 boot=no sandbox=yes' },
  { path: `${OUT}agents/sb-hostile.elf`, args: 'name=sb-spin version=1.0.0 boot=no sandbox=yes deadline_ms=1' },
  { path: `${OUT}agents/sb-hostile.elf`, args: 'name=sb-hostile version=1.0.0 boot=no sandbox=yes deadline_ms=60000' },
  { path: `${OUT}agents/sb-owner.elf`, args: `name=bench version=1.0.0 arg=${6 | 0x100} prio=3 call=echo` },
];

async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'tars-bench-sb-'));
  const q = startQemu({ kernel: `${OUT}tars-kernel.elf`, modules: MODULES, accel: 'tcg', memoryMb: 128, icount: true }, dir);
  try {
    await q.waitFor((e) => e.ev === 'ready', { timeoutMs: 60_000 });
    const c = await ProtocolClient.connect(q.paths.control, { timeoutMs: 20_000 });
    const failed = (e) => e.ev === 'log' && e.source === 'bench' && /FAIL/.test(String(e.msg));
    await q.waitFor((e) => failed(e) || (e.ev === 'log' && e.source === 'bench' && /waiting for the host's kill$/.test(String(e.msg))), { timeoutMs: 300_000 });
    // The guest context spinning in the call: runnable, named after its module.
    let guest;
    while (!guest) {
      const page = await c.request('tasks', { offset: 0, limit: 64 });
      guest = page.tasks.find((t) => t.name === 'sb-hostile' && t.state === 'runnable');
      if (!guest) await new Promise((r) => setTimeout(r, 20));
    }
    await c.request('kill', { tasks: [guest.id] });
    const end = await q.waitFor((e) => e.ev === 'log' && e.source === 'bench' && /: (ok|FAIL.*)$/.test(String(e.msg)), { timeoutMs: 60_000 });
    c.close();
    const bad = q.reader.events.filter(failed);
    if (bad.length || !/ok$/.test(String(end.msg))) throw new Error(`the sandbox bench failed: ${bad.map((e) => e.msg).join('; ') || end.msg}`);
    return Object.fromEntries(q.reader.events.filter((e) => e.ev === 'metric').map((e) => [e.name, Number(e.value)]));
  } finally {
    await q.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const m = await run();
const need = ['sb_call_rtt_min', 'ipc_rtt_min', 'sb_typed_call_rtt_min', 'sb_host_call_rtt_min', 'sb_create', 'sb_create_from_snapshot', 'sb_create_call', 'sb_create_snap_call', 'sb_snapshot', 'sb_snapshot_again', 'sb_restore_1', 'sb_restore_16', 'sb_restore_256', 'sb_call_restore', 'sb_kill_deadline', 'sb_kill_host'];
for (const k of need) if (!Number.isFinite(m[k])) throw new Error(`metric ${k} missing from the sandbox bench`);
const ipc = { name: 'IPC call+reply round trip (same run)', value: m.ipc_rtt_min };
const rows = [
  ['guest call round trip (noop, pre-encoded)', m.sb_call_rtt_min, ipc],
  ['guest call round trip (typed: encode, call, decode)', m.sb_typed_call_rtt_min, ipc],
  ['guest call that calls the host once (typed)', m.sb_host_call_rtt_min, { name: 'typed guest call', value: m.sb_typed_call_rtt_min }],
  ['create from the image (sb-guest)', m.sb_create, ipc],
  ['create from a snapshot (pages shared copy-on-write)', m.sb_create_from_snapshot, { name: 'create from the image', value: m.sb_create }],
  ['create from the image + first call', m.sb_create_call, ipc],
  ['create from a snapshot + first call (its CoW faults)', m.sb_create_snap_call, { name: 'create from the image + first call', value: m.sb_create_call }],
  ['snapshot, first (every writable page)', m.sb_snapshot, ipc],
  ['snapshot, again after one call (pages written since)', m.sb_snapshot_again, { name: 'first snapshot', value: m.sb_snapshot }],
  ['restore, 1 dirty page', m.sb_restore_1, ipc],
  ['restore, 16 dirty pages', m.sb_restore_16, { name: 'restore, 1 dirty page', value: m.sb_restore_1 }],
  ['restore, 256 dirty pages', m.sb_restore_256, { name: 'restore, 1 dirty page', value: m.sb_restore_1 }],
  ['call + restore', m.sb_call_restore, { name: 'guest call round trip', value: m.sb_call_rtt_min }],
  ['kill by deadline -> owner running', m.sb_kill_deadline, ipc],
  ["kill by the host -> owner running", m.sb_kill_host, ipc],
];
console.log('Sandboxes, QEMU TCG -icount shift=0 (instructions; 1 instruction = 1 ns of guest time)');
console.log(`${'figure'.padEnd(56)} ${'value'.padStart(10)}   baseline`);
for (const [what, v, b] of rows) console.log(`${what.padEnd(56)} ${String(v).padStart(10)}   ${(v / b.value).toFixed(2)}x ${b.name} (${b.value})`);
recordFigures(
  'kernel-sandbox',
  rows.map(([what, v, b]) => ({ name: `sandbox ${what}`, value: v, unit: 'instructions', better: 'lower', baseline: b })),
);
