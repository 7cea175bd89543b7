/**
 * The read-only file tree at / for Linux agents (issue 28): a directory written here by the
 * image builder's archive writer (TARSFS01) boots as a `tree=rootfs` module; unmodified
 * busybox-static applets chosen by argv and a C program read it, and a hostile program tries
 * `..`, symlink loops, huge reads, writes and a descriptor flood. A malformed archive is refused
 * with an event, and the kernel runs on. The C program prints the cycles a 1 MiB read() pass and
 * an mmap pass took (the figure).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startQemu, type BootModule, type KernelEvent, type QemuInstance } from '@tars/deploy';
// The writer the image builder uses (its source: this package does not depend on image-builder's build).
import { buildFileTree } from '../../image-builder/src/file-tree.js';
import { KERNEL, linux, qemuSessions, wait } from './system.js';

const HERE = new URL('./linux/', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'tars-files-'));
const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
let FILES = '';
let TMP = '';
let ARCHIVE = '';
let BIG = Buffer.alloc(0);
const AGENT_JSON = { name: 'reader-agent', weights: [3, 1, 4, 1, 5, 9, 2, 6] };
const DOTNET = existsSync('/usr/bin/dotnet') || existsSync('/usr/share/dotnet/dotnet');
const LINES = ['pear 3', 'apple 1', 'needle one', 'cherry 2', 'a needle two', 'banana 5'];

beforeAll(() => {
  FILES = join(work, 'files');
  execFileSync('gcc', ['-O1', '-static', '-o', FILES, join(HERE, 'files.c')]);
  TMP = join(work, 'tmp');
  execFileSync('gcc', ['-O1', '-static', '-o', TMP, join(HERE, 'tmp.c')]);
  const root = join(work, 'rootfs');
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(join(root, 'data'));
  writeFileSync(join(root, 'etc', 'x'), 'hello tars\n');
  writeFileSync(join(root, 'etc', 'lines'), LINES.join('\n') + '\n');
  writeFileSync(join(root, 'etc', 'agent.json'), JSON.stringify(AGENT_JSON, null, 2));
  // 1 MiB of bytes that are not all alike (a multiplicative sequence).
  BIG = Buffer.alloc(1 << 20);
  for (let i = 0, v = 1; i < BIG.length; i++, v = (v * 1103515245 + 12345) >>> 0) BIG[i] = v >>> 24;
  writeFileSync(join(root, 'data', 'big'), BIG);
  symlinkSync('loop2', join(root, 'loop1'));
  symlinkSync('loop1', join(root, 'loop2'));
  symlinkSync('etc/x', join(root, 'hello'));
  ARCHIVE = join(work, 'rootfs.tarsfs');
  writeFileSync(ARCHIVE, buildFileTree(root));
}, 300_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

const { boot, track } = qemuSessions(512);

const tree = (path: string, name = 'rootfs'): BootModule => ({ path, args: `name=${name} tree=${name}` });
const endOf = (name: string) => (e: KernelEvent) => (e.ev === 'task_exit' || e.ev === 'fault') && e['name'] === name;
const printed = (q: QemuInstance, name: string) => q.reader.events.filter((e) => e.ev === 'log' && e['source'] === name).map((e) => String(e['msg']));
const FIGURE = /^figure read_cycles=(\d+) mmap_cycles=(\d+) read_ns=(\d+) mmap_ns=(\d+)$/;
const fnv = (b: Buffer) => {
  let h = 0xcbf29ce484222325n;
  for (const x of b) h = BigInt.asUintN(64, (h ^ BigInt(x)) * 0x100000001b3n);
  return h.toString(16).padStart(16, '0');
};

describe('busybox-static applets on files of the tree (QEMU, TCG)', () => {
  it.skipIf(!BUSYBOX)(`sha256sum, wc -l, grep, sort and ls / by argv print what the host computes${BUSYBOX ? '' : ' (skipped: no busybox; apt-get install busybox-static)'}`, async () => {
    const bb = BUSYBOX ?? '';
    const runs: [string, string][] = [
      ['bb-sha', 'argv=sha256sum+/etc/x'],
      ['bb-wc', 'argv=wc+-l+/etc/lines'],
      ['bb-grep', 'argv=grep+needle+/etc/lines'],
      ['bb-sort', 'argv=sort+/etc/lines'],
      ['bb-ls', 'argv=ls+/'],
      ['bb-cat', 'argv=cat+/hello'],
    ];
    const { q, c } = await boot([tree(ARCHIVE), ...runs.map(([n, a]) => linux(bb, n, a))]);
    for (const [n] of runs) expect(await wait(q, endOf(n), 120_000), `${n}: ${printed(q, n).join(' | ')}`).toMatchObject({ ev: 'task_exit', code: 0 });
    const sha = createHash('sha256').update('hello tars\n').digest('hex');
    expect(printed(q, 'bb-sha')).toEqual([`${sha}  /etc/x`]);
    expect(printed(q, 'bb-wc')).toEqual([`${LINES.length} /etc/lines`]);
    expect(printed(q, 'bb-grep')).toEqual(LINES.filter((l) => l.includes('needle')));
    expect(printed(q, 'bb-sort')).toEqual([...LINES].sort());
    expect(printed(q, 'bb-ls')).toEqual(['data', 'etc', 'hello', 'loop1', 'loop2']);
    expect(printed(q, 'bb-cat')).toEqual(['hello tars']); // by sendfile, through the symlink /hello
    const mods = (await c.modules()) as unknown as { name: string; enosys?: unknown[] }[];
    for (const [n] of runs) expect(mods.find((m) => m.name === n)?.enosys ?? [], `${n}: system calls answered ENOSYS`).toEqual([]);
  });
});

describe('a C program reads the tree (QEMU, TCG)', () => {
  it('open, read, pread, lseek, fstat, mmap and getdents64 on a 1 MiB file agree with the host; prints the read vs mmap figure', async () => {
    const { q, c } = await boot([tree(ARCHIVE), linux(FILES, 'reader', 'argv=files+read+/data/big mem=64')]);
    expect(await wait(q, endOf('reader'), 120_000), printed(q, 'reader').join(' | ')).toMatchObject({ ev: 'task_exit', code: 0 });
    const h = fnv(BIG);
    const lines = printed(q, 'reader');
    // Every page of the 1 MiB mapping is the archive's own frame: what the process holds grows by
    // a page table and its stack, not by the 1024 KiB a copy would take.
    const used = Number(/^mmap frames_used_kib=(-?\d+)$/.exec(lines.find((l) => l.startsWith('mmap frames_used_kib')) ?? '')?.[1]);
    expect(used).toBeLessThan(64);
    expect(lines.filter((l) => !l.startsWith('figure') && !l.startsWith('mmap frames_used_kib'))).toEqual([
      `fstat size=${BIG.length} reg=1`,
      `read total=${BIG.length} fnv=${h}`,
      'pread=16 same=1 cur=1048576 set=4103 end=1048576',
      `mmap fnv=${h} same=1`,
      'private write ok=1 tree kept=1',
      'shared writable=-1 errno=13',
      'getdents dir=/data names=1 dots=2',
      'files read done',
    ]);
    const fig = FIGURE.exec(lines.find((l) => l.startsWith('figure')) ?? '');
    expect(fig).not.toBeNull();
    const m = (await c.modules()).find((x) => x.name === 'reader') as unknown as { enosys?: unknown[] };
    expect(m.enosys ?? []).toEqual([]);
    console.log(`[figure] 1 MiB file from the tree (TCG, TSC cycles): read() in 64 KiB calls ${fig?.[1]}, mmap + one pass ${fig?.[2]}; the mapping cost ${used} KiB of frames (256 archive pages shared, not copied)`);
  });

  it('the figure under -icount: instructions for a 1 MiB file by read() and by mmap (the guest clock counts instructions)', async () => {
    const q = startQemu({ kernel: KERNEL, modules: [tree(ARCHIVE), linux(FILES, 'reader', 'argv=files+read+/data/big')], accel: 'tcg', memoryMb: 512, icount: true }, mkdtempSync(join(work, 'q-')));
    track(q);
    expect(await wait(q, endOf('reader'), 180_000)).toMatchObject({ ev: 'task_exit', code: 0 });
    const fig = FIGURE.exec(printed(q, 'reader').find((l) => l.startsWith('figure')) ?? '');
    const [readIns, mmapIns] = [Number(fig?.[3]), Number(fig?.[4])];
    // Both passes hash every byte; read() also copies each one into the buffer.
    expect(readIns).toBeGreaterThan(mmapIns);
    console.log(`[figure] 1 MiB file from the tree (-icount, instructions): read() in 64 KiB calls ${(readIns / 1e6).toFixed(2)} M, mmap + one pass ${(mmapIns / 1e6).toFixed(2)} M (guest ns with -icount shift=0, 1 ns per instruction)`);
  });

  it('attacks: `..` past the root, a symlink loop, long paths, writes (EROFS), a huge read and a descriptor flood', async () => {
    const { q } = await boot([tree(ARCHIVE), linux(FILES, 'hostile', 'argv=files+attacks'), linux(FILES, 'neighbour', 'argv=files+read+/etc/x')]);
    expect(await wait(q, endOf('hostile'), 120_000), printed(q, 'hostile').join(' | ')).toMatchObject({ ev: 'task_exit', code: 0 });
    expect(printed(q, 'hostile')).toEqual([
      'dotdot fd_ok=1 read=11 text=hello',
      'dotdot from dir same_as_root=1',
      'loop errno=40',
      'readlink loop1=5 loop2',
      'too long path=36 name=36',
      'not dir=20 missing=2',
      'erofs open_w=30 creat=30 mkdir=30 unlink=30 trunc=30 access_w=30 write_fd=9',
      'huge read short=4096 kernel=-1/14 capped=1',
      'flood opened=60 errno=24 again=1', // 64 descriptors less stdio and the open /etc
      'kernel files meminfo=1 online=0 zero=1 exe=/tars/agents/hostile elf=1',
      'files attacks done',
    ]);
    expect(await wait(q, endOf('neighbour'), 120_000)).toMatchObject({ ev: 'task_exit', code: 0 });
    expect(q.reader.events.some((e) => e.ev === 'panic')).toBe(false);
  });

  it('/proc/self/maps lists the real areas in Linux\'s format: the stack, the image, [heap], a PROT_NONE reservation', async () => {
    const { q } = await boot([tree(ARCHIVE), linux(FILES, 'mapper', 'argv=files+maps')]);
    expect(await wait(q, endOf('mapper'), 120_000), printed(q, 'mapper').join(' | ')).toMatchObject({ ev: 'task_exit', code: 0 });
    const lines = printed(q, 'mapper');
    const maps = lines.filter((l) => l.startsWith('maps ') && !l.startsWith('maps summary')).map((l) => l.slice(5));
    // Linux's seq_file layout: the name, when there is one, starts at column 73.
    for (const l of maps) expect(l).toMatch(/^[0-9a-f]{8,}-[0-9a-f]{8,} [r-][w-][x-]p [0-9a-f]{8} [0-9a-f]{2}:[0-9a-f]{2} \d+ ( *(\[heap\]|\[stack\]|\/tars\/agents\/mapper))?$/);
    for (const l of maps.filter((x) => /\S$/.test(x) && x.split(/ +/).length === 6)) expect(l.indexOf(l.split(/ +/)[5] ?? '')).toBe(73);
    const starts = maps.map((l) => BigInt('0x' + l.split('-')[0]));
    expect(starts).toEqual([...starts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(lines.find((l) => l.startsWith('maps summary'))).toBe('maps summary lines_ge_4=1 stack=1 exe=1 heap=1 reservation=1 same_whole=1');
  });

  it('a malformed archive is refused with an event naming why; the kernel and its agents run on without it', async () => {
    const bad = join(work, 'bad.tarsfs');
    const good = buildFileTree(join(work, 'rootfs'));
    const last = good.length - 1;
    good[last] = (good[last] ?? 0) ^ 1; // one flipped byte of file data
    writeFileSync(bad, good);
    const garbage = join(work, 'garbage.tarsfs');
    writeFileSync(garbage, Buffer.from('not an archive at all'));
    const { q, c } = await boot([tree(bad), tree(garbage, 'other'), linux(FILES, 'reader', 'argv=files+read+/etc/x')]);
    expect(await wait(q, (e) => e.ev === 'file_tree_rejected' && e['name'] === 'rootfs')).toMatchObject({ reason: 'sha256 mismatch' });
    expect(await wait(q, (e) => e.ev === 'file_tree_rejected' && e['name'] === 'other')).toMatchObject({ reason: 'not a TARSFS01 archive (bad magic)' });
    await wait(q, endOf('reader'));
    expect(printed(q, 'reader')).toEqual(['open /etc/x errno=2']);
    expect((await c.ping()).pong).toBe(true);
    expect(q.reader.events.some((e) => e.ev === 'panic')).toBe(false);
  });
});

/** An `argv=` word: arguments joined by `+`; blanks, `+`, `%` and `,` as %XX (a module line holds 255 bytes). */
const argv = (...args: string[]) => 'argv=' + args.map((a) => a.replace(/[\s+%,]/g, (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0'))).join('+');

describe('/tmp, writable in memory per process (QEMU, TCG)', () => {
  it('a C program creates, writes, appends, truncates, renames, lists, maps and removes; what /tmp holds is counted in its memory', async () => {
    const { q, c } = await boot([tree(ARCHIVE), linux(TMP, 'tmp-ops', 'argv=tmp+ops mem=64')]);
    expect(await wait(q, endOf('tmp-ops'), 120_000), printed(q, 'tmp-ops').join(' | ')).toMatchObject({ ev: 'task_exit', code: 0 });
    expect(printed(q, 'tmp-ops')).toEqual([
      'write=5 pwrite=2 size=5 mode=100640 text=hXYlo',
      'append text=hXYlo! excl=17',
      'dirs mkdir=0 again=17 deep=2 rename=0 old=2 new=0 rmdir_full=39 unlink=0 rmdir=0 gone=2',
      'replace rename=0 text=new g=2',
      'truncate text=hXY hole=4 zero=1 size=1048577 sparse=1', // a page for the byte at 1 MiB, not 256
      'big put=1048576 same=1 mmap=1 held_kib_ge_1024=1 unlinked=2 still=1 byte_ok=1 freed_kib_ge_1024=1',
      'openat x=0 up=new unlinkat=0 unlinkat_dir=0',
      'ls /tmp: . .. a over',
      'access w=0 tmp_dir=1',
      'cwd chdir=0,0,0 /tmp /tmp/sub /etc / rel=cwd tree_rel=hello notdir=20 root=0 removed=2/2',
      'tmp ops done',
    ]);
    const m = (await c.modules()).find((x) => x.name === 'tmp-ops') as unknown as { enosys?: unknown[] };
    expect(m.enosys ?? []).toEqual([]);
  });

  it('attacks: writing past the memory limit (ENOSPC), a flood of files, `..` out of /tmp, far offsets, the read-only tree', async () => {
    const { q } = await boot([tree(ARCHIVE), linux(TMP, 'tmp-hostile', 'argv=tmp+attacks mem=16'), linux(FILES, 'neighbour', 'argv=files+read+/etc/x')]);
    expect(await wait(q, endOf('tmp-hostile'), 180_000), printed(q, 'tmp-hostile').join(' | ')).toMatchObject({ ev: 'task_exit', code: 0 });
    expect(printed(q, 'tmp-hostile')).toEqual([
      'fill errno=28 mib_ge_4=1 mib_lt_16=1 after_unlink=65536',
      'flood files=1023 errno=28 after=1', // 1024 nodes, /tmp itself one of them
      'dotdot w=30 creat=30 mkdir=30 at_w=30 at_read=hello rename_out=18 rename_in=30 unlink=30 root=16',
      'span first=0 second=28 after_unlink=0',
      'limits pwrite_far=27 truncate_far=27 into_self=22 ro_write=9 ro_truncate=22 neg=22',
      'tree open_w=30 creat=30 mkdir=30 truncate=30 tmp_is_own=2',
      'tmp attacks done',
    ]);
    expect(await wait(q, endOf('neighbour'), 120_000)).toMatchObject({ ev: 'task_exit', code: 0 });
    expect(q.reader.events.some((e) => e.ev === 'panic')).toBe(false);
  });

  it('a process that ends holding 8 MiB in /tmp gives every frame back, and the next finds /tmp empty: three runs in a row leave the free count where it was', async () => {
    const { q, c } = await boot([tree(ARCHIVE), linux(TMP, 'tmp-fill', 'argv=tmp+fill mem=32 boot=no')]);
    const free = async () => (await c.stats()).memory.frames_free;
    const ends = () => q.reader.events.filter(endOf('tmp-fill')).length;
    // The first run also warms what stays for good (the module's image pages, the kernel heap).
    await c.spawn('tmp-fill');
    await wait(q, (e) => endOf('tmp-fill')(e) && ends() === 1, 120_000);
    const before = await free();
    for (let run = 2; run <= 4; run++) {
      await c.spawn('tmp-fill');
      expect(await wait(q, (e) => endOf('tmp-fill')(e) && ends() === run, 120_000)).toMatchObject({ ev: 'task_exit', code: 0 });
    }
    // Each run's /tmp starts empty: nothing of the last process's shows through.
    expect(printed(q, 'tmp-fill')).toEqual(Array(4).fill('fill fresh=1 kept=8388608 size=8388608'));
    // 8 MiB is 2,048 frames a run; a leak of them would show 6,144 missing.
    expect(Math.abs((await free()) - before)).toBeLessThan(64);
  });

  // There is no fork: sh uses its builtins only (redirections, cd, read, `.` of a script it wrote).
  it.skipIf(!BUSYBOX)(`busybox sh writes, appends to and reads back /tmp files; sort -o writes there${BUSYBOX ? '' : ' (skipped: no busybox)'}`, async () => {
    const bb = BUSYBOX ?? '';
    const { q, c } = await boot([
      tree(ARCHIVE),
      linux(bb, 'sh', argv('sh', '-c', 'echo x >/tmp/a;cd /tmp;echo y >>a;while read l;do echo got $l;done <a;echo "echo sourced \\$((6*7))" >s;. ./s')),
      linux(bb, 'sort', argv('sort', '-o', '/tmp/s', '/etc/lines')),
      linux(bb, 'sort-ro', argv('sort', '-o', '/etc/s', '/etc/lines')),
    ]);
    for (const n of ['sh', 'sort']) expect(await wait(q, endOf(n), 120_000), `${n}: ${printed(q, n).join(' | ')}`).toMatchObject({ ev: 'task_exit', code: 0 });
    expect(printed(q, 'sh')).toEqual(['got x', 'got y', 'sourced 42']);
    expect(printed(q, 'sort')).toEqual([]);
    // The same applet writing into the read-only tree fails, and says why.
    expect(await wait(q, endOf('sort-ro'), 120_000)).toMatchObject({ ev: 'task_exit', code: 2 }); // sort's error status, as GNU sort's
    expect(printed(q, 'sort-ro').join(' ')).toMatch(/Read-only file system/);
    const mods = (await c.modules()) as unknown as { name: string; enosys?: unknown[] }[];
    for (const n of ['sh', 'sort']) expect(mods.find((m) => m.name === n)?.enosys ?? [], n).toEqual([]);
  });
});

describe('a NativeAOT C# program reads a JSON file from the tree (QEMU, TCG)', () => {
  let JSONREAD = '';
  beforeAll(() => {
    if (!DOTNET) return;
    // An ordinary NativeAOT console program, published as a static executable.
    const src = join(work, 'jsonread');
    cpSync(join(HERE, 'jsonread'), src, { recursive: true });
    execFileSync('dotnet', ['publish', join(src, 'JsonRead.csproj'), '-c', 'Release', '-o', join(work, 'jsonread-out'), '--nologo', '-v', 'quiet'], {
      env: { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: '1', DOTNET_NOLOGO: '1' },
      stdio: 'pipe',
    });
    JSONREAD = join(work, 'jsonread-out', 'jsonread');
  }, 600_000);

  it.skipIf(!DOTNET)(`File.ReadAllText, JsonDocument and Directory.GetFileSystemEntries on the tree print the file's contents${DOTNET ? '' : ' (skipped: no dotnet SDK)'}`, async () => {
    const { q, c } = await boot([tree(ARCHIVE), linux(JSONREAD, 'cs-json', 'argv=jsonread+/etc/agent.json')]);
    const end = await wait(q, endOf('cs-json'), 180_000);
    const m = (await c.modules()).find((x) => x.name === 'cs-json') as unknown as { enosys?: unknown[] };
    const bytes = Buffer.byteLength(JSON.stringify(AGENT_JSON, null, 2));
    expect(printed(q, 'cs-json'), `ENOSYS: ${JSON.stringify(m.enosys)}`).toEqual([
      `json name=reader-agent weights=8 sum=31 bytes=${bytes} exists=True missing=False`,
      'etc agent.json,lines,x',
    ]);
    expect(end).toMatchObject({ ev: 'task_exit', code: 0 });
  });
});
