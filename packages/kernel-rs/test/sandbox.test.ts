/**
 * Sandboxes (issue 26): Hyperlight's model on TARS isolation. An owner agent (agents/sb-owner,
 * one scenario per `arg=`) makes sandboxes from function modules (agents/sb-guest,
 * agents/sb-hostile: `boot=no sandbox=yes`), calls their functions by name with typed arguments,
 * snapshots and restores them; each hostile way out poisons only its own sandbox; another task's
 * handle and a forged one reach nothing; quotas hold. The bench scenario prints call and restore
 * figures in instructions (-icount: 1 instruction = 1 ns of TSC) against the IPC round trip of
 * the same run.
 */
import { describe, expect, it } from 'vitest';
import { hyperlightCall, type BootModule, type DeploymentRecord, type KernelEvent, type ProtocolClient } from '@tars/deploy';
import { DEMO_MODULES, OUT, qemuSessions } from './system.js';

const { boot } = qemuSessions(128);
const GUESTS: BootModule[] = [
  { path: `${OUT}agents/sb-guest.elf`, args: 'name=sb-guest version=1.0.0 boot=no sandbox=yes' },
  { path: `${OUT}agents/sb-hostile.elf`, args: 'name=sb-hostile version=1.0.0 boot=no sandbox=yes' },
];
/** The bench's extra guests: 256 pages to dirty, and sb-hostile with a 1 ms deadline. */
const BENCH_GUESTS: BootModule[] = [
  { path: `${OUT}agents/sb-pages.elf`, args: 'name=sb-pages version=1.0.0 boot=no sandbox=yes' },
  { path: `${OUT}agents/sb-hostile.elf`, args: 'name=sb-spin version=1.0.0 boot=no sandbox=yes deadline_ms=1' },
];
const owner = (name: string, mode: number, extra = ''): BootModule => ({ path: `${OUT}agents/sb-owner.elf`, args: `name=${name} version=1.0.0 arg=${mode} ${extra}`.trim() });
const isLog = (src: string, re: RegExp) => (e: KernelEvent) => e.ev === 'log' && e['source'] === src && re.test(String(e['msg']));
const failed = (e: KernelEvent) => e.ev === 'log' && /FAIL/.test(String(e['msg']));
/** The demo's IPC still runs: the kernel's call count grows (waited for, however slow the host). */
async function ipcGoesOn(c: ProtocolClient): Promise<void> {
  const before = Number((await c.stats()).ipc.calls);
  while (Number((await c.stats()).ipc.calls) <= before) await new Promise((r) => setTimeout(r, 20));
}

describe('sandboxes (QEMU, TCG)', () => {
  it('calls guest functions by name with typed arguments, keeps state across calls, snapshots and restores it', async () => {
    const { q } = await boot([...GUESTS, owner('basics', 1)]);
    await q.waitFor(isLog('basics', /: (ok|FAIL.*)$/), { timeoutMs: 60_000 });
    expect(q.reader.events.filter(failed)).toEqual([]);
    expect(q.reader.events.some(isLog('sb:sb-guest', /^hello from the guest$/))).toBe(true);
  });

  it('poisons only the offending sandbox for a system call, int3, a write to text, a kernel read, cli, a loop past the deadline and a panic', async () => {
    const { q, c } = await boot([...DEMO_MODULES, ...GUESTS, owner('hostile', 2)]);
    await q.waitFor(isLog('hostile', /: (ok|FAIL.*)$/), { timeoutMs: 90_000 });
    expect(q.reader.events.filter(failed)).toEqual([]);
    const poisoned = q.reader.events.filter(isLog('kernel', /^sandbox_poisoned /)).map((e) => String(e['msg']).match(/reason=(\w+)/)?.[1]);
    expect(poisoned).toEqual(['syscall', 'syscall', 'fault', 'fault', 'fault', 'fault', 'deadline', 'abort']);
    // No task faulted, the demo's IPC runs on and the kernel answers.
    expect(q.reader.events.filter((e) => e.ev === 'fault' || e.ev === 'panic')).toEqual([]);
    await ipcGoesOn(c);
    // The owner ended its scenario normally (code 0), not by a fault.
    const exit = await q.waitFor((e) => e.ev === 'task_exit' && e['name'] === 'hostile', { timeoutMs: 10_000 });
    expect(exit['code']).toBe(0);
  });

  it("refuses another task's handle, forged and stale handles", async () => {
    const { q } = await boot([...GUESTS, owner('holder', 3, 'serve=sb-hold'), owner('forger', 4, 'call=sb-hold')]);
    await q.waitFor(isLog('forger', /: (ok|FAIL.*)$/), { timeoutMs: 60_000 });
    await q.waitFor(isLog('holder', /: (ok|FAIL.*)$/), { timeoutMs: 60_000 });
    expect(q.reader.events.filter(failed)).toEqual([]);
  });

  it("shares a snapshot's pages copy-on-write with the sandboxes made from it: they part at their first writes both ways, the source's later snapshots and its end leave them alone, text stays read-only, the frame cap holds for the copies, and nothing leaks", async () => {
    const freeAfter = async (rounds: number) => {
      const { q, c } = await boot([...GUESTS, owner('cow', 12 | (rounds << 8), 'sandboxes=8 sandbox_mem=2')]);
      await q.waitFor(isLog('cow', /: (ok|FAIL.*)$/), { timeoutMs: 90_000 });
      expect(q.reader.events.filter(failed)).toEqual([]);
      // The poisonings: the clone that wrote to its text, the one that ran past the frame cap.
      const poisoned = q.reader.events.filter(isLog('kernel', /^sandbox_poisoned /)).map((e) => String(e['msg']).match(/module=(\S+) .*reason=(\w+)/)?.slice(1).join(' '));
      expect(poisoned).toEqual(['sb-hostile fault', 'sb-guest fault']);
      await q.waitFor((e) => e.ev === 'task_exit' && e['name'] === 'cow', { timeoutMs: 10_000 });
      return Number((await c.stats()).memory.frames_free);
    };
    const once = await freeAfter(1);
    // Five more rounds of clones, copies and snapshots leave the same frames free (a frame lost
    // per round would show 5 times over).
    expect(await freeAfter(6)).toBe(once);
  });

  it('holds the quotas on sandboxes and their memory', async () => {
    const { q } = await boot([...GUESTS, owner('quota', 5, 'sandboxes=2 sandbox_mem=1')]);
    await q.waitFor(isLog('quota', /: (ok|FAIL.*)$/), { timeoutMs: 60_000 });
    expect(q.reader.events.filter(failed)).toEqual([]);
  });

  it('survives the host killing a guest context mid-call (its owner gets E_POISONED) and the owner itself mid-call', async () => {
    const slow: BootModule[] = [GUESTS[0]!, { path: `${OUT}agents/sb-hostile.elf`, args: 'name=sb-hostile version=1.0.0 boot=no sandbox=yes deadline_ms=30000' }];
    const { q, c } = await boot([...DEMO_MODULES, ...slow, owner('victim', 7)]);
    const running = async (name: string) => {
      for (;;) {
        const page = await c.request<{ tasks: { id: number; name: string; state: string }[] }>('tasks', { offset: 0, limit: 32 });
        const t = page.tasks.find((x) => x.name === name && x.state === 'runnable');
        if (t) return t;
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await q.waitFor(isLog('victim', /calling spin$/), { timeoutMs: 30_000 });
    const guest = await running('sb-hostile');
    expect((await c.request<{ killed: number[] }>('kill', { tasks: [guest.id] })).killed).toEqual([guest.id]);
    await q.waitFor(isLog('victim', /guest killed: (ok|FAIL.*)$/), { timeoutMs: 30_000 });
    await q.waitFor(isLog('victim', /calling spin again$/), { timeoutMs: 30_000 });
    await running('sb-hostile');
    const self = (await c.request<{ tasks: { id: number; name: string }[] }>('tasks', { offset: 0, limit: 32 })).tasks.find((t) => t.name === 'victim')!;
    await c.request('kill', { tasks: [self.id] });
    await q.waitFor((e) => e.ev === 'task_exit' && e['name'] === 'victim', { timeoutMs: 10_000 });
    // The sandbox went with its owner: no guest context is left, nothing faulted or panicked.
    const left = (await c.request<{ tasks: { name: string }[] }>('tasks', { offset: 0, limit: 32 })).tasks.filter((t) => t.name.startsWith('sb-'));
    expect(left).toEqual([]);
    expect(q.reader.events.filter(failed)).toEqual([]);
    expect(q.reader.events.filter((e) => e.ev === 'panic' || (e.ev === 'fault' && e['module'] !== 'sb-hostile'))).toEqual([]);
    await ipcGoesOn(c);
  });

  it('guest → host calls: registered functions by name with typed arguments, an unknown name is an error to the guest, a stateful host, no re-entry, clean FPU state per call', async () => {
    const { q } = await boot([...GUESTS, owner('hostcalls', 8)]);
    await q.waitFor(isLog('hostcalls', /: (ok|FAIL.*)$/), { timeoutMs: 60_000 });
    expect(q.reader.events.filter(failed)).toEqual([]);
    expect(q.reader.events.filter(isLog('kernel', /^sandbox_poisoned /))).toEqual([]);
  });

  it('hostile host calls: a loop of host calls past the deadline, garbage on the gate, a host answering too late — each poisons or is refused in its own sandbox', async () => {
    const { q, c } = await boot([...DEMO_MODULES, ...GUESTS, owner('hostile-host', 9)]);
    await q.waitFor(isLog('hostile-host', /: (ok|FAIL.*)$/), { timeoutMs: 90_000 });
    expect(q.reader.events.filter(failed)).toEqual([]);
    const poisoned = q.reader.events.filter(isLog('kernel', /^sandbox_poisoned /)).map((e) => String(e['msg']).match(/reason=(\w+)/)?.[1]);
    expect(poisoned).toEqual(['deadline', 'deadline']);
    expect(q.reader.events.filter((e) => e.ev === 'fault' || e.ev === 'panic')).toEqual([]);
    await ipcGoesOn(c);
  });

  it("a host that never answers: the call's deadline still poisons the sandbox and the host can still kill the owner", async () => {
    const { q, c } = await boot([...DEMO_MODULES, ...GUESTS, owner('stall', 10)]);
    await q.waitFor(isLog('stall', /in the host function$/), { timeoutMs: 30_000 });
    await q.waitFor(isLog('kernel', /^sandbox_poisoned module=sb-hostile .*reason=deadline/), { timeoutMs: 30_000 });
    const self = (await c.request<{ tasks: { id: number; name: string }[] }>('tasks', { offset: 0, limit: 32 })).tasks.find((t) => t.name === 'stall')!;
    expect((await c.request<{ killed: number[] }>('kill', { tasks: [self.id] })).killed).toEqual([self.id]);
    await q.waitFor((e) => e.ev === 'task_exit' && e['name'] === 'stall', { timeoutMs: 10_000 });
    const left = (await c.request<{ tasks: { name: string }[] }>('tasks', { offset: 0, limit: 32 })).tasks.filter((t) => t.name.startsWith('sb-'));
    expect(left).toEqual([]);
    expect(q.reader.events.filter(failed)).toEqual([]);
    expect(q.reader.events.filter((e) => e.ev === 'fault' || e.ev === 'panic')).toEqual([]);
    await ipcGoesOn(c);
  });

  it('serves host calls over the control channel (os hyperlight call): typed arguments, kept state, --restore, poisoning', async () => {
    const { q, c } = await boot([...DEMO_MODULES, ...GUESTS]);
    const deployment = { id: 'test' } as DeploymentRecord;
    const call = (module: string, fn: string, args = '[]', restore = false, client: ProtocolClient = c) => hyperlightCall({ deployment, client, module, function: fn, args, restore });
    expect((await call('sb-guest', 'sum', '[2, 40]')).result).toEqual({ type: 'i64', value: '42' });
    expect((await call('sb-guest', 'reverse', '["héllo"]')).result).toEqual({ type: 'string', value: 'olléh' });
    expect((await call('sb-guest', 'mul_f64', '[1.5, {"f64": 4}]')).result).toEqual({ type: 'f64', value: 6 });
    expect((await call('sb-guest', 'sum_u64', '[{"u64": "18446744073709551614"}, {"u64": 1}]')).result).toEqual({ type: 'u64', value: '18446744073709551615' });
    expect((await call('sb-guest', 'counter')).result.value).toBe('1');
    expect((await call('sb-guest', 'counter')).result.value).toBe('2');
    // --restore: snapshot before the first such call, restore after each: the counter stays at 2.
    expect((await call('sb-guest', 'counter', '[]', true)).result.value).toBe('3');
    expect((await call('sb-guest', 'counter', '[]', true)).result.value).toBe('3');
    await expect(call('sb-guest', 'fail')).rejects.toThrow(/fail: as asked/);
    await expect(call('sb-guest', 'sum', '["x"]')).rejects.toThrow(/bad arguments/);
    // The host's sandboxes have no host functions: the guest hears so at once and says it.
    await expect(call('sb-guest', 'host_add', '[1, 2]')).rejects.toThrow(/no host functions.*\(guest status 1\)/);
    await expect(call('no-such', 'sum', '[1, 2]')).rejects.toThrow(/No function module no-such/);
    await expect(call('pong', 'sum', '[1, 2]')).rejects.toThrow(/No function module pong/);
    // A hostile guest poisons its sandbox only; --restore brings it back.
    expect((await call('sb-hostile', 'ok', '[]', true)).result.value).toBe('1');
    await expect(call('sb-hostile', 'int3')).rejects.toThrow(/poisoned its sandbox \(fault/);
    await expect(call('sb-hostile', 'ok')).rejects.toThrow(/poisoned/);
    expect((await call('sb-hostile', 'ok', '[]', true)).result.value).toBe('1');
    await expect(call('sb-hostile', 'spin', '[]', true)).rejects.toThrow(/deadline/);
    expect((await call('sb-hostile', 'ok')).result.value).toBe('1');
    expect(q.reader.events.filter((e) => e.ev === 'fault' || e.ev === 'panic')).toEqual([]);
    expect((await c.ping()).pong).toBe(true);
    expect((await call('sb-guest', 'counter')).result.value).toBe('3');
  });

  it('figures under -icount: guest call round trip (within 2x), a call that calls the host, snapshot/restore, kill latency against the IPC round trip of the same run', async () => {
    const { q } = await boot([...DEMO_MODULES, ...GUESTS, ...BENCH_GUESTS, owner('bench', 6, 'prio=3 call=echo')], { icount: true });
    const done = await q.waitFor(isLog('bench', /: (ok|FAIL.*)$/), { timeoutMs: 120_000 });
    expect(q.reader.events.filter(failed)).toEqual([]);
    const line = q.reader.events.find(isLog('bench', /call \d+ ipc/));
    console.log(`sandbox figures (instructions, -icount): ${String(line?.['msg'])}`);
    expect(String(done['msg'])).toMatch(/ok$/);
    const m = String(line?.['msg']).match(/call (\d+) ipc (\d+) host-call (\d+)/);
    const [call, ipc, hostCall] = [Number(m?.[1]), Number(m?.[2]), Number(m?.[3])];
    expect(ipc).toBeGreaterThan(0);
    // The goal of issue 26: a guest call costs at most two IPC round trips (deterministic
    // under -icount: minimum of 200 rounds).
    expect(call).toBeLessThanOrEqual(2 * ipc);
    expect(hostCall).toBeGreaterThan(call);
    // The other goal: a sandbox made in at most 100 µs of guest time (100,000 instructions),
    // from the image and from a snapshot, which shares its pages and so costs less, its first
    // call's copy-on-write faults included.
    const c = String(line?.['msg']).match(/create (\d+) create-from-snapshot (\d+) create\+call (\d+) create-from-snapshot\+call (\d+)/);
    expect(c, 'the sandbox-create figures line').not.toBeNull();
    const [create, fromSnap, createCall, fromSnapCall] = [1, 2, 3, 4].map((i) => Number(c?.[i])) as [number, number, number, number];
    expect(create).toBeLessThanOrEqual(100_000);
    expect(fromSnap).toBeLessThan(create);
    expect(fromSnapCall).toBeLessThan(createCall);
  });
});
