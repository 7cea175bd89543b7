import { createHash } from 'node:crypto';
/**
 * Whether KVM works here, decided by a real probe boot once and then cached: the verdict is
 * keyed on the kernel release, the QEMU version and the identity of /dev/kvm (device number,
 * inode, change time — a reboot or a reloaded module makes a new node), so it is re-probed
 * exactly when one of them changes. The probe is short: a working KVM boots the probe kernel
 * in well under a second, a nested KVM that hangs is cut off after `timeoutMs`.
 */
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { homedir, release } from 'node:os';
import { join } from 'node:path';
import { probeVersion } from '../exec.js';
import { writeJsonAtomic } from '../fs.js';
import { outputDebug, withSpinner } from '../output.js';
import { kvmDeviceUsable, probeAccel, probeKernel } from './accel-probe.js';

export const KVM_DEVICE = '/dev/kvm';
export const KVM_PROBE_TIMEOUT_MS = 3000;

export interface KvmVerdict {
  usable: boolean;
  detail: string;
  /** cache: a verdict probed earlier with the same key; probe: probed now; device: /dev/kvm missing. */
  source: 'cache' | 'probe' | 'device';
  key?: string;
  checkedAt?: string;
}

/** tarscli's cache directory ($XDG_CACHE_HOME/tarscli, else ~/.cache/tarscli). */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'tarscli');
}

export function kvmVerdictFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheDir(env), 'kvm-verdict.json');
}

/** The cache key: kernel release, QEMU version, /dev/kvm's identity and the probe itself (a changed probe asks again); undefined without /dev/kvm. */
export async function kvmVerdictKey(qemu = 'qemu-system-x86_64'): Promise<string | undefined> {
  if (!kvmDeviceUsable()) return undefined;
  const st = statSync(KVM_DEVICE);
  const qemuVersion = (await probeVersion(qemu, ['--version']))?.split('\n')[0] ?? 'qemu-unknown';
  const probe = createHash('sha256').update(probeKernel()).digest('hex').slice(0, 12);
  return [`kernel ${release()}`, qemuVersion.trim(), `${KVM_DEVICE} rdev ${st.rdev} ino ${st.ino} ctime ${Math.round(st.ctimeMs)}`, `probe ${probe}`].join(' | ');
}

export interface KvmVerdictOptions {
  /** Probe again even when a verdict is cached. */
  refresh?: boolean;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  qemu?: string;
}

export async function kvmVerdict(options: KvmVerdictOptions = {}): Promise<KvmVerdict> {
  const key = await kvmVerdictKey(options.qemu);
  if (!key) return { usable: false, detail: `${KVM_DEVICE} is missing or not accessible`, source: 'device' };
  const file = kvmVerdictFile(options.env);
  if (!options.refresh) {
    try {
      const cached = JSON.parse(readFileSync(file, 'utf8')) as KvmVerdict;
      if (cached.key === key && typeof cached.usable === 'boolean') {
        outputDebug(`kvm: cached verdict from ${cached.checkedAt} (${file}): ${cached.usable ? 'usable' : 'not usable'}`);
        return { ...cached, source: 'cache' };
      }
      outputDebug(`kvm: cached verdict is for another kernel, QEMU or ${KVM_DEVICE}; probing again`);
    } catch {
      outputDebug(`kvm: no cached verdict in ${file}; probing`);
    }
  }
  const timeoutMs = options.timeoutMs ?? KVM_PROBE_TIMEOUT_MS;
  const probe = await withSpinner(`Checking that KVM works (a probe boot, at most ${timeoutMs / 1000} s; the verdict is cached)`, () => probeAccel('kvm', options.qemu, timeoutMs));
  const verdict: KvmVerdict = { usable: probe.usable, detail: probe.detail, source: 'probe', key, checkedAt: new Date().toISOString() };
  try {
    mkdirSync(cacheDir(options.env), { recursive: true });
    writeJsonAtomic(file, { usable: verdict.usable, detail: verdict.detail, key, checkedAt: verdict.checkedAt });
  } catch (err) {
    outputDebug(`kvm: cannot cache the verdict in ${file}: ${(err as Error).message}`);
  }
  return verdict;
}
