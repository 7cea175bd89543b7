/**
 * `tarscli doctor`: every tool the toolchain runs, with its status, the version found and a
 * one-line fix. Required checks fail the command; optional ones only warn.
 */
import { statfsSync } from 'node:fs';
import type { TarsConfig, ToolchainName } from '../config/schema.js';
import { inspectImage, pingEngine } from '../docker.js';
import { probeVersion } from '../exec.js';
import { kvmVerdict } from '../qemu/kvm-verdict.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  id: string;
  title: string;
  status: CheckStatus;
  required: boolean;
  version?: string;
  detail?: string;
  fix?: string;
}

export interface DoctorContext {
  config: TarsConfig;
  root: string;
  /** Probe KVM again instead of using the cached verdict. */
  refreshKvm?: boolean;
}

export interface Check {
  id: string;
  title: string;
  required: boolean;
  run(ctx: DoctorContext): Promise<Omit<CheckResult, 'id' | 'title' | 'required'>>;
}

const APT = 'apt-get install -y';

function toolCheck(id: string, title: string, file: string, args: string[], required: boolean, fix: string, pick?: (v: string) => string, allLines = false): Check {
  return {
    id,
    title,
    required,
    async run() {
      const v = await probeVersion(file, args, { allLines });
      if (!v) return { status: required ? 'fail' : 'warn', detail: `${file} not found`, fix };
      return { status: 'ok', version: pick ? pick(v) : v };
    },
  };
}

const versionOnly = (v: string) => /\d+\.\d+(\.\d+)?/.exec(v)?.[0] ?? v;

/** `nvcc --version` prints a banner first; the CUDA release is on the `release 11.8, V11.8.89` line. */
export const cudaRelease = (v: string): string => /release (\d+\.\d+)/.exec(v)?.[1] ?? /V(\d+\.\d+(\.\d+)?)/.exec(v)?.[1] ?? versionOnly(v);

function imageCheck(toolchain: ToolchainName): Check {
  return {
    id: `image-${toolchain}`,
    title: `builder image (${toolchain})`,
    required: false,
    async run(ctx) {
      const name = ctx.config.toolchains[toolchain].image;
      if (!(await pingEngine())) return { status: 'warn', detail: `${name}: no Docker engine`, fix: 'dockerd &' };
      const img = await inspectImage(name);
      if (!img) {
        return {
          status: 'warn',
          detail: `${name} is missing; steps fall back to the host toolchain`,
          fix: `tarscli toolchain bootstrap --only ${toolchain}`,
        };
      }
      return { status: 'ok', version: img.labels['dev.tars.version'] ?? name, detail: `${name} ${img.id.slice(0, 19)}` };
    },
  };
}

export const MIN_FREE_DISK_GB = 5;

export function doctorChecks(): Check[] {
  return [
    toolCheck('node', 'Node.js', 'node', ['--version'], true, 'Install Node.js 20 or newer (https://nodejs.org or NodeSource)', versionOnly),
    toolCheck('npm', 'npm', 'npm', ['--version'], true, 'Install npm (ships with Node.js)', versionOnly),
    toolCheck('rustc', 'rustc', 'rustc', ['--version'], true, 'Install Rust stable with rustup', versionOnly),
    toolCheck('cargo', 'cargo', 'cargo', ['--version'], true, 'Install Rust stable with rustup', versionOnly),
    toolCheck('dotnet', '.NET SDK', 'dotnet', ['--version'], false, 'Install the .NET 10 SDK (packages.microsoft.com) for C#/F# agents', versionOnly),
    toolCheck(
      'nvcc',
      'CUDA nvcc',
      'nvcc',
      ['--version'],
      false,
      `enable Debian's non-free component, then ${APT} nvidia-cuda-toolkit`,
      cudaRelease,
      true,
    ),
    toolCheck('qemu', 'QEMU', 'qemu-system-x86_64', ['--version'], true, `${APT} qemu-system-x86`, versionOnly),
    {
      id: 'kvm',
      title: 'KVM acceleration',
      required: false,
      async run(ctx) {
        const v = await kvmVerdict({ ...(ctx.refreshKvm ? { refresh: true } : {}) });
        const when = v.source === 'cache' ? ` (cached verdict from ${v.checkedAt}; \`tarscli doctor --refresh\` probes again)` : '';
        if (v.source === 'device') return { status: 'warn', detail: '/dev/kvm absent: QEMU runs under TCG (slower)', fix: 'Enable virtualization (or nested KVM) for this machine' };
        if (!v.usable) return { status: 'warn', detail: `KVM probe boot failed (${v.detail}); using TCG${when}`, fix: 'Use --accel tcg, or fix nested virtualization' };
        return { status: 'ok', detail: `${v.detail}${when}` };
      },
    },
    {
      id: 'docker',
      title: 'Docker engine',
      required: false,
      async run() {
        const info = await pingEngine();
        if (!info) return { status: 'warn', detail: 'no engine answers; steps run on the host', fix: `${APT} docker.io && (dockerd > /var/log/dockerd.log 2>&1 &)` };
        return { status: 'ok', version: info.version, detail: `API ${info.apiVersion}` };
      },
    },
    toolCheck('grub-mkrescue', 'grub-mkrescue', 'grub-mkrescue', ['--version'], true, `${APT} grub-common grub-pc-bin grub-efi-amd64-bin`, versionOnly),
    toolCheck('xorriso', 'xorriso', 'xorriso', ['-version'], true, `${APT} xorriso`, versionOnly),
    toolCheck('mtools', 'mtools', 'mformat', ['--version'], true, `${APT} mtools`, versionOnly),
    toolCheck('debootstrap', 'debootstrap', 'debootstrap', ['--version'], false, `${APT} debootstrap`, versionOnly),
    imageCheck('base'),
    imageCheck('rust'),
    imageCheck('dotnet'),
    imageCheck('cuda'),
    {
      id: 'disk',
      title: 'free disk',
      required: true,
      async run(ctx) {
        const fs = statfsSync(ctx.root);
        const freeGb = (fs.bavail * fs.bsize) / 1024 ** 3;
        const detail = `${freeGb.toFixed(1)} GiB free under ${ctx.root}`;
        if (freeGb < 1) return { status: 'fail', detail, fix: 'Free disk space (docker system prune, rm -rf .tars/cache)' };
        if (freeGb < MIN_FREE_DISK_GB) return { status: 'warn', detail, fix: 'Free disk space (docker system prune, rm -rf .tars/cache)' };
        return { status: 'ok', detail };
      },
    },
  ];
}

export interface DoctorReport {
  ok: boolean;
  checks: CheckResult[];
}

/** Run every check concurrently; the report keeps the declared order. */
export async function runDoctor(ctx: DoctorContext, checks: Check[] = doctorChecks()): Promise<DoctorReport> {
  const results = await Promise.all(
    checks.map(async (c): Promise<CheckResult> => {
      try {
        return { id: c.id, title: c.title, required: c.required, ...(await c.run(ctx)) };
      } catch (err) {
        return { id: c.id, title: c.title, required: c.required, status: 'fail', detail: err instanceof Error ? err.message : String(err) };
      }
    }),
  );
  return { ok: results.every((r) => r.status !== 'fail'), checks: results };
}
