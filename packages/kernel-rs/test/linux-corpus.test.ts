/**
 * A corpus of unmodified programs nobody wrote for TARS (issue 28), booted as `abi=linux`
 * modules: a Go program built here by Debian's Go compiler (goroutines, channels, a select with
 * time.After, time.Sleep, a ticker, maps, runtime.GC — its runtime needs epoll, a non-blocking
 * pipe, futexes and signals), a C program with pthreads, pipes, poll, select, epoll and eventfd
 * (and the hostile calls against them), and busybox-static applets chosen by argv. Programs are
 * built into a temporary directory; each prints a known answer that is checked from the
 * kernel's log events. A missing tool skips its case with the package to install in the name.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProtocolClient, type QemuInstance } from '@tars/deploy';
import { exitOf, linux, out, qemuSessions, wait } from './system.js';

const HERE = new URL('./linux/', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'tars-corpus-'));

/** The first of `candidates` that exists, else undefined. */
function findTool(candidates: string[]): string | undefined {
  return candidates.find((p) => existsSync(p));
}

const GO = findTool(['/usr/bin/go', '/usr/lib/go-1.19/bin/go', '/usr/lib/go/bin/go']);
const BUSYBOX = findTool(['/bin/busybox', '/usr/bin/busybox']);
let WAITS = '';
let SIGWAITS = '';
let GOPROG = '';

beforeAll(() => {
  WAITS = join(work, 'waits');
  execFileSync('gcc', ['-O1', '-static', '-pthread', '-o', WAITS, join(HERE, 'waits.c')]);
  SIGWAITS = join(work, 'sigwaits');
  execFileSync('gcc', ['-O1', '-static', '-pthread', '-o', SIGWAITS, join(HERE, 'sigwaits.c')]);
  if (GO) {
    GOPROG = join(work, 'go-answer');
    // A static executable (no cgo); the build cache stays the user's so a rebuild is quick.
    execFileSync(GO, ['build', '-trimpath', '-o', GOPROG, join(HERE, 'go-answer', 'main.go')], {
      env: { ...process.env, CGO_ENABLED: '0', GOOS: 'linux', GOARCH: 'amd64', GOCACHE: process.env['GOCACHE'] ?? join(process.env['HOME'] ?? work, '.cache', 'go-build') },
      stdio: 'pipe',
    });
  }
}, 600_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

const { boot } = qemuSessions(512);

type LinuxModule = { name: string; enosys?: { nr: number; count: number }[] };
const moduleOf = async (c: ProtocolClient, name: string) => (await c.modules()).find((m) => m.name === name) as unknown as LinuxModule;
/** What the program printed, for a failure message. */
const printed = (q: QemuInstance, name: string) => q.reader.events.filter((e) => e.ev === 'log' && e['source'] === name).map((e) => String(e['msg']));

describe('a C program: pthreads, pipes, poll, select, epoll, eventfd, timerfd (QEMU, TCG)', () => {
  it('prints its known answer; argv= reaches it; writers wake a blocked epoll_wait; timeouts and EINTR hold', async () => {
    const { q, c } = await boot([linux(WAITS, 'waits', 'argv=waits+answer')]);
    const exit = await wait(q, exitOf('waits'), 120_000).catch(() => undefined);
    expect(printed(q, 'waits')).toEqual([
      'argc=2 argv0=waits argv1=answer',
      'nonblock empty=1 full=1 filled=1 getfl=1',
      'poll full n=1 rin=1 wout=0',
      'epoll eventfd sum=15 pipe=abcde bytes=5 woke=1',
      'semaphore reads=3 then=1',
      'oneshot 1 0 1',
      'timeouts epoll=0/1 poll=0/1 select=0/1',
      'eintr r=-1 errno=4 sig=10',
      'blocking pipe written=65536 read=65536560',
      'timerfd expirations>=3 1 waited>=30ms 1 interval=10000000 disarmed=1',
      'waits answer ok',
    ]);
    expect(exit).toMatchObject({ code: 0 });
    expect((await moduleOf(c, 'waits')).enosys ?? []).toEqual([]);
  });

  it('attacks: epoll on closed descriptors, huge maxevents, bad pointers (EFAULT), eventfd overflow, a descriptor flood', async () => {
    // A neighbour keeps running through the flood: the limits are the process's own.
    const { q } = await boot([linux(WAITS, 'hostile', 'argv=waits+attacks'), linux(WAITS, 'neighbour', 'argv=waits+answer')]);
    await wait(q, out('hostile', /^closed fd add=-1\/9 wait=0 del=-1\/9$/));
    await wait(q, out('hostile', /^not epoll=-1\/22 closed epoll=-1\/9$/));
    await wait(q, out('hostile', /^maxevents huge=-1\/22 big=-1\/14 negative=-1\/22$/));
    await wait(q, out('hostile', /^bad pointers wait=-1\/14 kernel=-1\/14 null=-1\/14 ctl=-1\/14 poll=-1\/14 readonly=-1\/14$/));
    await wait(q, out('hostile', /^still ready=1$/));
    await wait(q, out('hostile', /^overflow w1=8 w2=-1\/11 w3=-1\/22 short=-1\/22 read=8 max=1$/));
    await wait(q, out('hostile', /^timerfd bad=-1\/22 far=0 read=-1\/11 not-a-timer=-1\/22$/));
    await wait(q, out('hostile', /^flood stopped errno=24 emfile=1 again=1$/));
    await wait(q, out('hostile', /^pipe flood stopped errno=24 bounded=1$/));
    await wait(q, out('hostile', /^watches added=\d+ last=(28|9)$/));
    await wait(q, out('hostile', /^waits attacks done$/));
    expect(await wait(q, exitOf('hostile'))).toMatchObject({ code: 0 });
    await wait(q, out('neighbour', /^waits answer ok$/));
    expect(await wait(q, exitOf('neighbour'))).toMatchObject({ code: 0 });
  });
});

describe('a C program: signals against blocking calls, as Linux answers them (QEMU, TCG)', () => {
  it('SA_RESTART restarts a pipe read and an untimed futex wait; poll, epoll_wait, timed futex are EINTR; ppoll, pselect6, epoll_pwait wait under their own mask', async () => {
    const { q, c } = await boot([linux(SIGWAITS, 'sigwaits')]);
    const exit = await wait(q, exitOf('sigwaits'), 120_000).catch(() => undefined);
    // The same lines Linux 6.x prints for this program (checked on the host when it was written).
    expect(printed(q, 'sigwaits')).toEqual([
      'read SA_RESTART r=1 errno=0 handlers>=3 1',
      'read no-restart r=-1 errno=4',
      'SA_RESTART poll=-1/4 epoll_wait=-1/4',
      'futex untimed restarted=1 timed=-1/4',
      'ppoll pending r=-1/4 before=0 handled=1 under_call_mask=1 restored=1',
      'pselect6 pending r=-1/4 before=0 handled=1 under_call_mask=1 restored=1',
      'epoll_pwait pending r=-1/4 before=0 handled=1 under_call_mask=1 restored=1',
      'ppoll masked r=1/0 revents_in=1 handled_on_return=1',
      'sigwaits done',
    ]);
    expect(exit).toMatchObject({ code: 0 });
    expect((await moduleOf(c, 'sigwaits')).enosys ?? []).toEqual([]);
  });
});

describe('a Go program built with Debian\'s Go compiler (QEMU, TCG)', () => {
  it.skipIf(!GO)(`goroutines, channels, select with time.After, time.Sleep, a ticker, maps and runtime.GC print the known answer${GO ? '' : ' (skipped: no go compiler; apt-get install golang-go)'}`, async () => {
    const { q, c } = await boot([linux(GOPROG, 'goprog', 'argv=goprog+x+y')]);
    // Its end (exit or fault) comes after every line it printed.
    const end = await wait(q, (e) => (e.ev === 'task_exit' || e.ev === 'fault') && e['name'] === 'goprog', 120_000);
    const m = await moduleOf(c, 'goprog');
    expect(printed(q, 'goprog'), `ENOSYS: ${JSON.stringify(m.enosys)}`).toEqual(['go answer sum=338350 keys=500 first=w0 timeout=true slept=true ticks=3 args=x,y']);
    expect(m.enosys ?? [], 'system calls the Go runtime got ENOSYS for').toEqual([]);
    expect(end).toMatchObject({ ev: 'task_exit', code: 0 });
  });
});

describe('busybox-static applets chosen by argv (QEMU, TCG)', () => {
  it.skipIf(!BUSYBOX)(`echo, uname and nproc run from one image by argv[0]/argv[1]${BUSYBOX ? '' : ' (skipped: no /bin/busybox; apt-get install busybox-static)'}`, async () => {
    const bb = BUSYBOX ?? '';
    const { q } = await boot([
      linux(bb, 'bb-echo', 'argv=busybox+echo+hello%20from+busybox%2Bargv'),
      linux(bb, 'bb-uname', 'argv=uname+-sm'),
      linux(bb, 'bb-nproc', 'argv=nproc'),
    ]);
    await wait(q, out('bb-echo', /^hello from busybox\+argv$/));
    await wait(q, out('bb-uname', /^Linux x86_64$/));
    await wait(q, out('bb-nproc', /^1$/));
    for (const name of ['bb-echo', 'bb-uname', 'bb-nproc']) expect(await wait(q, exitOf(name))).toMatchObject({ code: 0 });
  });
});
