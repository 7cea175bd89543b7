import { cpSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { copyProject, REPO } from './project.js';
import { tarscli } from './helpers.js';

describe('os build with NativeAOT .NET agents', () => {
  it('builds C# and F# agents as components, carries them in the image, and they run in the harness', async () => {
    const dir = copyProject((c) => {
      c.agents.push({ name: 'counter-cs', lang: 'csharp', path: 'packages/dotnet-interop/samples/csharp/Counter', version: '1.0.0' });
      c.agents.push({ name: 'counter-fs', lang: 'fsharp', path: 'packages/dotnet-interop/samples/fsharp/Counter.FSharp.Host', version: '1.0.0' });
    });
    cpSync(join(REPO, 'packages', 'dotnet-interop'), join(dir, 'packages', 'dotnet-interop'), {
      recursive: true,
      filter: (s) => !/dotnet-interop\/(out|node_modules|harness\/target|\.test-results)|\/(bin|obj)(\/|$)/.test(s),
    });
    const r = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    const m = r.json.result;
    const kinds = Object.fromEntries(m.build.components.map((c: { id: string; kind: string }) => [c.id, c.kind]));
    expect(kinds).toMatchObject({ 'agent:counter-cs': 'dotnet-agent', 'agent:counter-fs': 'dotnet-agent' });
    expect(m.payloads.map((p: { name: string; lang: string; file: string }) => [p.name, p.lang, p.file])).toEqual([
      ['counter-cs', 'csharp', 'agents/counter-cs.so'],
      ['counter-fs', 'fsharp', 'agents/counter-fs.so'],
    ]);
    expect((await tarscli(['os', 'inspect', join(dir, 'dist', 'kernel'), '--json'], { cwd: dir })).json.result.ok).toBe(true);
    // The shipped libraries are real agents: drive one through the Rust harness.
    const harness = join(REPO, 'packages', 'dotnet-interop', 'out', 'tars-agent-harness');
    expect(existsSync(harness), 'turbo builds dotnet-interop before these tests').toBe(true);
    const run = await execa(harness, ['roundtrip', join(dir, 'dist', 'kernel', 'agents', 'counter-fs.so')], { reject: false });
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: true, snapshot: 'e8030000000000006400000000000000' });
    expect(readFileSync(join(dir, 'dist', 'kernel', 'SHA256SUMS'), 'utf8')).toContain('agents/counter-cs.so');
  }, 300_000);
});
