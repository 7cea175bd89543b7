/**
 * Every component kind in its builder container, offline, bit-for-bit: the kernel and Rust
 * agents (rust image), a NativeAOT C# and F# agent (dotnet image, NuGet packages fetched on the
 * host into .tars/nuget, the publish itself with the network off) and a CUDA module (cuda image).
 */
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { copyProject, REPO } from './project.js';
import { outputTail, tarscli } from './helpers.js';

type Component = { id: string; kind: string; executor: string; outputs: { path: string; sha256: string }[]; toolchain: { name: string; image?: string } };

/** A project with a Rust kernel and agents, C# and F# agents and a CUDA module. */
function polyglotProject(opts: { fsharp: boolean }): string {
  const dir = copyProject((c) => {
    c.agents.push({ name: 'counter-cs', lang: 'csharp', path: 'packages/dotnet-interop/samples/csharp/Counter', version: '1.0.0' });
    if (opts.fsharp) c.agents.push({ name: 'counter-fs', lang: 'fsharp', path: 'packages/dotnet-interop/samples/fsharp/Counter.FSharp.Host', version: '1.0.0' });
    c.agents.push({ name: 'vector', lang: 'cuda', path: 'packages/gpu-modules', version: '1.0.0' });
  });
  cpSync(join(REPO, 'packages', 'dotnet-interop'), join(dir, 'packages', 'dotnet-interop'), {
    recursive: true,
    filter: (s) => !/dotnet-interop\/(out|node_modules|harness\/target|\.test-results)|\/(bin|obj)(\/|$)/.test(s),
  });
  cpSync(join(REPO, 'packages', 'gpu-modules'), join(dir, 'packages', 'gpu-modules'), {
    recursive: true,
    filter: (s) => !/gpu-modules\/(out|node_modules|dist|\.test-results)/.test(s),
  });
  return dir;
}

const byId = (cs: Component[]) => Object.fromEntries(cs.map((c) => [c.id, c]));

describe('every component kind in its builder container, offline and bit-for-bit', () => {
  const images: Record<string, string> = {};
  beforeAll(async () => {
    // Builder images are made locally (nothing can be pulled); a no-op when they are current.
    const boot = await tarscli(['toolchain', 'bootstrap', '--only', 'base,rust,dotnet,cuda', '--json']);
    expect(boot.exitCode, outputTail(boot)).toBe(0);
    const list = await tarscli(['toolchain', 'list', '--json']);
    for (const t of list.json.result.toolchains as { toolchain: string; id?: string }[]) if (t.id) images[t.toolchain] = t.id;
    expect(Object.keys(images).sort()).toEqual(['base', 'cuda', 'dotnet', 'rust']);
  }, 1_200_000);

  it('plans no build step with the network; .NET packages come from a host fetch of the lock files', async () => {
    const dir = polyglotProject({ fsharp: false });
    const plan = (await tarscli(['os', 'build', '--dry-run', '--json'], { cwd: dir })).json.result;
    expect(plan.steps.filter((s: { network?: boolean }) => s.network)).toEqual([]);
    const cs = plan.steps.find((s: { id: string }) => s.id === 'agent:counter-cs');
    expect(cs.fetch.command).toContain('--fetch');
    expect(cs.fetch.creates).toEqual(['packages/dotnet-interop/samples/csharp/Counter/packages.lock.json']);
  });

  it('builds every kind in containers, records each builder image, and the bytes match a host build', async () => {
    const dir = polyglotProject({ fsharp: true });
    const d = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'docker', '--json'], { cwd: dir });
    expect(d.exitCode, outputTail(d)).toBe(0);
    const inDocker = byId(d.json.result.build.components);
    const kinds = { kernel: 'rust', 'agent:pong': 'rust', 'agent:ping': 'rust', 'agent:counter-cs': 'dotnet', 'agent:counter-fs': 'dotnet', 'agent:vector': 'cuda' };
    for (const [id, toolchain] of Object.entries(kinds)) {
      expect(inDocker[id]?.executor, id).toBe('docker');
      // The manifest names the exact builder image each component came from.
      expect(inDocker[id]?.toolchain.image, id).toBe(images[toolchain]);
    }
    // The .NET packages were fetched on the host into the project's package folder.
    expect(existsSync(join(dir, '.tars', 'nuget', 'runtime.linux-x64.microsoft.dotnet.ilcompiler'))).toBe(true);
    const manifest = JSON.parse(readFileSync(join(dir, 'dist', 'kernel', 'manifest.json'), 'utf8'));
    expect(manifest.components.find((c: Component) => c.id === 'agent:vector').toolchain.image).toBe(images['cuda']);

    const host = polyglotProject({ fsharp: true });
    const h = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'host', '--json'], { cwd: host });
    expect(h.exitCode, outputTail(h)).toBe(0);
    const onHost = byId(h.json.result.build.components);
    for (const id of Object.keys(kinds)) {
      expect(onHost[id]?.executor, id).toBe('host');
      expect(onHost[id]?.toolchain.image, id).toBeUndefined();
      expect(onHost[id]?.outputs, `${id}: host and container bytes`).toEqual(inDocker[id]?.outputs);
    }
  }, 1_200_000);

  it('--verify-reproducible through the containers: every kind identical from two directories', async () => {
    const dir = polyglotProject({ fsharp: false });
    const r = await tarscli(['os', 'build', '--format', 'kernel', '--executor', 'docker', '--verify-reproducible', '--json'], { cwd: dir });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(r.json.result).toMatchObject({ identical: true, firstDifference: null });
  }, 1_200_000);

  it('the offline publish really is offline: with no network at all it builds from .tars/nuget', async () => {
    const dir = polyglotProject({ fsharp: false });
    const agent = 'packages/dotnet-interop/samples/csharp/Counter';
    const script = 'packages/dotnet-interop/scripts/publish-agent.sh';
    const fetched = await execa('bash', [script, '--fetch', agent, 'counter-cs'], { cwd: dir, reject: false });
    expect(fetched.exitCode, outputTail(fetched)).toBe(0);
    // A new network namespace has no interface but loopback: any download would fail.
    const r = await execa('unshare', ['--net', 'bash', script, agent, 'counter-cs'], { cwd: dir, reject: false });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(existsSync(join(dir, 'packages/dotnet-interop/out/agents/counter-cs.so'))).toBe(true);
    // The TARS OS build (static executable, libtars) is offline too.
    const os = await execa('unshare', ['--net', 'bash', script, '--os', agent, 'counter-cs'], { cwd: dir, reject: false });
    expect(os.exitCode, outputTail(os)).toBe(0);
    expect(existsSync(join(dir, 'packages/dotnet-interop/out/agents/counter-cs.elf'))).toBe(true);
  }, 600_000);
});
