/**
 * C# and F# agents on TARS OS (issue 14): `agent new --lang csharp|fsharp` → `os build` (each
 * agent a NativeAOT static executable, booted as a module with its capabilities) → `os deploy`:
 * the agents say hello, call the Rust `pong` over IPC, show up in `os diagnostics`, and
 * `os update-kernel` hot-swaps one with its state handed over; `os gdb` stops in the C# agent with
 * its symbols at its load bias. A prebuilt static executable is an
 * agent too (`lang: "elf"`).
 */
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { copyProject, REPO } from './project.js';
import { outputTail, tarscli, waitForEvent } from './helpers.js';

describe('C# and F# agents run inside TARS OS', () => {
  it('agent new → os build → os deploy: hello, IPC with the Rust pong, diagnostics, and a hot-swap that keeps the state', async () => {
    const dir = copyProject((c) => {
      c.agents.push({ name: 'prebuilt', lang: 'elf', path: 'bin/prebuilt', version: '1.0.0', caps: ['call=echo'], memory: 32, env: { GREETING: 'hi' } });
    });
    cpSync(join(REPO, 'packages', 'dotnet-interop'), join(dir, 'packages', 'dotnet-interop'), {
      recursive: true,
      filter: (s) => !/dotnet-interop\/(out|node_modules|harness\/target|\.test-results)|\/(bin|obj)(\/|$)/.test(s),
    });
    // A prebuilt static C program: it logs its environment and calls pong through libtars.
    const src = join(dir, 'prebuilt.c');
    writeFileSync(
      src,
      [
        '#include <stdio.h>',
        '#include <stdlib.h>',
        '#include "tars.h"',
        'int main(void) {',
        '  uint64_t in[4] = {1, 41, 0, 0}, out[4] = {0};',
        '  int64_t st = tars_call(0, in, out);',
        '  printf("prebuilt %s caps %s echo %lld %llu\\n", getenv("GREETING"), getenv("TARS_CAPS"), (long long)st, (unsigned long long)out[1]);',
        '  return 0;',
        '}',
      ].join('\n'),
    );
    const lib = join(dir, 'packages', 'dotnet-interop', 'native', 'libtars');
    await execa('mkdir', ['-p', join(dir, 'bin')]);
    const cc = await execa('gcc', ['-O1', '-static-pie', '-I', lib, '-o', join(dir, 'bin', 'prebuilt'), src, join(lib, 'tars.c')], { reject: false });
    expect(cc.exitCode, outputTail(cc)).toBe(0);

    for (const [name, lang] of [
      ['hello-cs', 'csharp'],
      ['hello-fs', 'fsharp'],
    ]) {
      const n = await tarscli(['agent', 'new', name as string, '--lang', lang as string, '--json'], { cwd: dir });
      expect(n.exitCode, outputTail(n)).toBe(0);
      expect(n.json.result.configEntry).toMatchObject({ lang, caps: ['call=echo'] });
    }

    const b = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: dir });
    expect(b.exitCode, outputTail(b)).toBe(0);
    const m = b.json.result;
    const mods = Object.fromEntries(m.boot.modules.map((x: { name: string; args: string; file: string }) => [x.name, x]));
    expect(mods['hello-cs'].args).toMatch(/ call=echo abi=linux$/);
    expect(mods['hello-fs'].file).toBe('modules/hello-fs.elf');
    expect(mods['prebuilt'].args).toBe('name=prebuilt version=1.0.0 prio=3 call=echo abi=linux mem=32 env=GREETING=hi');
    // The .NET agents' symbols are kept beside the image, like the Rust agents'.
    expect(m.debug.map((d: { name: string }) => d.name)).toEqual(expect.arrayContaining(['hello-cs', 'hello-fs']));
    expect((await tarscli(['os', 'inspect', join(dir, 'dist', 'kernel'), '--json'], { cwd: dir })).json.result.ok).toBe(true);

    const d = await tarscli(['os', 'deploy', '--to', 'qemu', '--format', 'kernel', '--accel', 'tcg', '--detach', '--json'], { cwd: dir });
    expect(d.exitCode, outputTail(d)).toBe(0);
    const id = d.json.result.deployment.id;
    try {
      await waitForEvent(dir, id, /"source":"hello-cs".*"msg":"hello from hello-cs"/);
      await waitForEvent(dir, id, /"source":"hello-fs".*"msg":"hello from hello-fs"/);
      // IPC with the Rust pong: echo answers with the number plus one.
      await waitForEvent(dir, id, /"source":"hello-cs".*"msg":"hello-cs: step 3, echo replied 4"/);
      await waitForEvent(dir, id, /"source":"hello-fs".*"msg":"hello-fs: step 3, echo replied 4"/);
      await waitForEvent(dir, id, /"source":"prebuilt".*"msg":"prebuilt hi caps call:echo echo 0 42"/);

      // gdb with the NativeAOT agent's symbols at the load bias the kernel's loader gave it (the
      // ELF is static-pie: its lowest page at 0x40400000): stopped in its Step, `bt` names the C# source.
      const g = await tarscli(['os', 'gdb', id, '--module', 'hello-cs', '--batch', 'break hello_cs_Agents_HelloCsAgent__Step', '--batch', 'continue', '--batch', 'bt 2', '--batch', 'delete', '--json'], { cwd: dir });
      expect(g.exitCode, outputTail(g)).toBe(0);
      expect(g.json.result.biases).toEqual({ 'hello-cs': '0x40400000' });
      expect(g.json.result.output).toMatch(/with all sections offset by 0x40400000/);
      expect(g.json.result.output).toMatch(/^#0 +hello_cs_Agents_HelloCsAgent__Step \(.*\) at .*\/HelloCsAgent\.cs:\d+$/m);

      const diag = (await tarscli(['os', 'diagnostics', id, '--json'], { cwd: dir })).json.result;
      const cs = diag.modules.find((x: { name: string }) => x.name === 'hello-cs');
      expect(cs).toMatchObject({ state: 'running', abi: 'linux' });
      expect(cs.threads).toBeGreaterThanOrEqual(1);
      expect(diag.log.some((l: { line: string }) => l.line.includes('[hello-cs] hello from hello-cs'))).toBe(true);
      const text = await tarscli(['os', 'diagnostics', id], { cwd: dir });
      expect(text.stdout).toMatch(/linux agent/);

      // Hot-swap the C# agent with a new version: the step count carries over.
      await waitForEvent(dir, id, /"source":"hello-cs".*"msg":"hello-cs: step 20, /);
      const swap = await tarscli(['os', 'update-kernel', id, '--module', 'hello-cs', '--version', '0.2.0', '--executor', 'host', '--json'], { cwd: dir });
      expect(swap.exitCode, outputTail(swap)).toBe(0);
      expect(swap.json.result).toMatchObject({ module: 'hello-cs', version: '0.2.0', outcome: 'swapped' });
      const restored = await waitForEvent(dir, id, /"source":"hello-cs".*"msg":"hello-cs: restored at step \d+"/);
      expect(Number(/restored at step (\d+)/.exec(restored)?.[1])).toBeGreaterThanOrEqual(20);
      const after = (await tarscli(['os', 'diagnostics', id, '--json'], { cwd: dir })).json.result;
      expect(after.modules.find((x: { name: string }) => x.name === 'hello-cs')).toMatchObject({ version: '0.2.0', state: 'running', swaps: 1 });
      expect(after.kernel.pong).toBe(true);
    } finally {
      await tarscli(['os', 'stop', id], { cwd: dir });
    }
  }, 900_000);
});
