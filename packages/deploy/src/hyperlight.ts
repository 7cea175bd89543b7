/**
 * `os hyperlight call`: a function of a sandbox guest (a `sandbox=yes` module) called from the
 * host. The call is encoded here (the TypeScript twin of `kcore::sbcall`, checked against the same
 * bytes in both test suites) and carried by the control channel's `sb_call`; the kernel runs it
 * in the host's sandbox of that module (made on first use) and `sb_result` returns the encoded
 * result. PROTOCOL.md, "Sandboxes". Hyperlight's model on TARS isolation, not the Hyperlight crates.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { resolve } from 'node:path';
import { AbortError, CancelledError, type TarsConfig } from '@tars/core';
import { FOOD, startEnvironment } from '@tars/gpu-modules';
import { formatSignature, imageDir, readManifest, SB_PARAM_TYPES, type SbParamType, type SbSignature, type SbType } from '@tars/image-builder';
import type { DeploymentRecord } from './deployments.js';
import { getDeployer, stopDeployment, withControl } from './deployers.js';
import { ProtocolError, type ProtocolClient } from './protocol/client.js';

export type { SbType } from '@tars/image-builder';
export type SbValue =
  | { type: 'void' }
  | { type: 'i32' | 'u32' | 'f32' | 'f64'; value: number }
  | { type: 'i64' | 'u64'; value: bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'bytes'; value: Buffer };

const TAGS: Record<SbType, number> = { void: 0, i32: 1, u32: 2, i64: 3, u64: 4, f32: 5, f64: 6, bool: 7, string: 8, bytes: 9 };
const TYPES = Object.fromEntries(Object.entries(TAGS).map(([k, v]) => [v, k])) as Record<number, SbType>;
/** The largest encoded call `sb_call` carries (base64 in a 512-byte request). */
export const SB_CALL_MAX = 256;

function encodeValue(v: SbValue): Buffer {
  const tag = Buffer.from([TAGS[v.type]]);
  switch (v.type) {
    case 'void':
      return tag;
    case 'bool':
      return Buffer.from([TAGS.bool, v.value ? 1 : 0]);
    case 'string':
    case 'bytes': {
      const body = v.type === 'string' ? Buffer.from(v.value, 'utf8') : v.value;
      const len = Buffer.alloc(4);
      len.writeUInt32LE(body.length);
      return Buffer.concat([tag, len, body]);
    }
    default: {
      const b = Buffer.alloc(v.type === 'i64' || v.type === 'u64' || v.type === 'f64' ? 8 : 4);
      if (v.type === 'i64') b.writeBigInt64LE(v.value);
      else if (v.type === 'u64') b.writeBigUInt64LE(v.value);
      else if (v.type === 'i32') b.writeInt32LE(v.value);
      else if (v.type === 'u32') b.writeUInt32LE(v.value);
      else if (v.type === 'f32') b.writeFloatLE(v.value);
      else if (v.type === 'f64') b.writeDoubleLE(v.value);
      return Buffer.concat([tag, b]);
    }
  }
}

/** `name_len:u8 name argc:u8 value*` (kcore::sbcall::encode_call). */
export function encodeSandboxCall(name: string, args: SbValue[]): Buffer {
  const n = Buffer.from(name, 'utf8');
  if (n.length === 0 || n.length > 255) throw new AbortError(`A function name is 1 to 255 bytes (got ${n.length})`, { code: 'USAGE' });
  if (args.length > 255) throw new AbortError(`At most 255 arguments (got ${args.length})`, { code: 'USAGE' });
  return Buffer.concat([Buffer.from([n.length]), n, Buffer.from([args.length]), ...args.map(encodeValue)]);
}

/** One encoded value (a result); undefined when malformed or followed by other bytes. */
export function decodeSandboxValue(b: Buffer): SbValue | undefined {
  const type = TYPES[b[0] ?? 255];
  if (!type) return undefined;
  const need = (n: number) => b.length === 1 + n;
  switch (type) {
    case 'void':
      return need(0) ? { type } : undefined;
    case 'bool':
      return need(1) && (b[1] === 0 || b[1] === 1) ? { type, value: b[1] === 1 } : undefined;
    case 'i32':
      return need(4) ? { type, value: b.readInt32LE(1) } : undefined;
    case 'u32':
      return need(4) ? { type, value: b.readUInt32LE(1) } : undefined;
    case 'f32':
      return need(4) ? { type, value: b.readFloatLE(1) } : undefined;
    case 'f64':
      return need(8) ? { type, value: b.readDoubleLE(1) } : undefined;
    case 'i64':
      return need(8) ? { type, value: b.readBigInt64LE(1) } : undefined;
    case 'u64':
      return need(8) ? { type, value: b.readBigUInt64LE(1) } : undefined;
    case 'string':
    case 'bytes': {
      if (b.length < 5) return undefined;
      const len = b.readUInt32LE(1);
      if (b.length !== 5 + len) return undefined;
      const body = b.subarray(5);
      if (type === 'bytes') return { type, value: Buffer.from(body) };
      const s = new TextDecoder('utf-8', { fatal: true });
      try {
        return { type, value: s.decode(body) };
      } catch {
        return undefined;
      }
    }
  }
}

/** The --args JSON array, parsed. */
function parseArgsJson(json: string): unknown[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (e) {
    throw new AbortError(`--args is not JSON: ${(e as Error).message}`, { code: 'USAGE', tryMessage: 'Pass a JSON array, e.g. --args \'[2, 40]\' or \'[{"u64": "7"}, "text"]\'.' });
  }
  if (!Array.isArray(doc)) throw new AbortError('--args must be a JSON array', { code: 'USAGE' });
  return doc;
}

const TYPED_HINT = 'an element is a number, string, boolean or {"TYPE": value} with TYPE one of i32 u32 i64 u64 f32 f64 bool string bytes';

/** The explicit `{"TYPE": value}` form: [TYPE, value], or undefined for a plain JSON value. */
function explicitType(v: unknown): [string, unknown] | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v) || Object.keys(v).length !== 1) return undefined;
  return Object.entries(v as Record<string, unknown>)[0] as [string, unknown];
}

/** `raw` (a plain JSON value) as a value of `type`; throws a one-line reason naming element `i`. */
function convertArg(raw: unknown, type: SbParamType, i: number, shown: unknown = raw): SbValue {
  const bad = (why: string) => new AbortError(`--args [${i}]: ${why} (got: ${JSON.stringify(shown)})`, { code: 'USAGE' });
  const int = (lo: bigint, hi: bigint): bigint => {
    if (typeof raw !== 'number' && typeof raw !== 'string') throw bad(`${type} takes a number or a decimal string`);
    let n: bigint;
    try {
      n = BigInt(raw);
    } catch {
      throw bad(`not an integer`);
    }
    if (n < lo || n > hi) throw bad(`out of range for ${type}`);
    return n;
  };
  switch (type) {
    case 'i32':
      return { type, value: Number(int(-(2n ** 31n), 2n ** 31n - 1n)) };
    case 'u32':
      return { type, value: Number(int(0n, 2n ** 32n - 1n)) };
    case 'i64':
      return { type, value: int(-(2n ** 63n), 2n ** 63n - 1n) };
    case 'u64':
      return { type, value: int(0n, 2n ** 64n - 1n) };
    case 'f32':
    case 'f64':
      if (typeof raw !== 'number') throw bad(`${type} takes a number`);
      return { type, value: raw };
    case 'bool':
      if (typeof raw !== 'boolean') throw bad('bool takes true or false');
      return { type, value: raw };
    case 'string':
      if (typeof raw !== 'string') throw bad('string takes a string');
      return { type, value: raw };
    case 'bytes':
      if (typeof raw !== 'string') throw bad('bytes takes base64');
      return { type, value: Buffer.from(raw, 'base64') };
  }
}

/** The type an element has without a signature: integers i64, other numbers f64, or its explicit TYPE. */
function inferArg(v: unknown, i: number): SbValue {
  if (typeof v === 'boolean') return { type: 'bool', value: v };
  if (typeof v === 'string') return { type: 'string', value: v };
  if (typeof v === 'number') return Number.isInteger(v) ? { type: 'i64', value: BigInt(v) } : { type: 'f64', value: v };
  const e = explicitType(v);
  if (e && (SB_PARAM_TYPES as readonly string[]).includes(e[0])) return convertArg(e[1], e[0] as SbParamType, i, v);
  throw new AbortError(`--args [${i}]: ${TYPED_HINT} (got: ${JSON.stringify(v)})`, { code: 'USAGE' });
}

/** What an element looks like, for an error: its explicit TYPE, or the kind of JSON value. */
function givenType(v: unknown): string {
  const e = explicitType(v);
  if (e) return e[0];
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'string') return 'string';
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/** Whether a plain JSON element can be a value of `type` (its range is checked in convertArg). */
function fits(v: unknown, type: SbParamType): boolean {
  const e = explicitType(v);
  if (e) return e[0] === type;
  switch (type) {
    case 'i32':
    case 'u32':
    case 'i64':
    case 'u64':
      return (typeof v === 'number' && Number.isInteger(v)) || (typeof v === 'string' && /^-?\d+$/.test(v));
    case 'f32':
    case 'f64':
      return typeof v === 'number';
    case 'bool':
      return typeof v === 'boolean';
    case 'string':
    case 'bytes':
      return typeof v === 'string';
  }
}

/**
 * Arguments from JSON: an array whose elements are integers (i64), other numbers (f64), strings,
 * booleans, or `{"TYPE": value}` for any type (`{"u64": "18446744073709551615"}`, `{"bytes":
 * "<base64>"}`, `{"f32": 1.5}`). With the function's signature (from the image's manifest) each
 * element takes its parameter's type (`[2, 40]` for `(i32, i32)`), and any element that cannot,
 * or a count that differs, is refused before anything is sent: one line naming the function,
 * the expected and the given types.
 */
export function parseSandboxArgs(json: string, signature?: SbSignature, module?: string): SbValue[] {
  const doc = parseArgsJson(json);
  if (!signature) return doc.map(inferArg);
  const fn = `${module ? `${module}.` : ''}${formatSignature(signature)}`;
  const mismatch = doc.length !== signature.params.length || doc.some((v, i) => !fits(v, signature.params[i] as SbParamType));
  if (mismatch) {
    throw new AbortError(`${fn}: --args do not match: expected (${signature.params.join(', ')}), given (${doc.map(givenType).join(', ')})`, {
      code: 'USAGE',
      tryMessage: 'Integers, numbers, strings (base64 for bytes) and booleans take the parameter\'s type; {"TYPE": value} must name it.',
    });
  }
  return doc.map((v, i) => {
    const e = explicitType(v);
    return convertArg(e ? e[1] : v, signature.params[i] as SbParamType, i, v);
  });
}

/** The signature of `fn` in module `module` of the deployment's image (manifest.json), or undefined where the deployment has no image to read. */
export function sandboxSignature(deployment: DeploymentRecord, module: string, fn: string): SbSignature | undefined {
  const dir = deployment.image?.dir;
  if (!dir || !existsSync(join(dir, 'manifest.json'))) return undefined;
  const m = readManifest(join(dir, 'manifest.json'));
  const sm = m.sandboxModules.find((x) => x.name === module);
  if (!sm) {
    const names = m.sandboxModules.map((x) => x.name);
    throw new AbortError(`No function module ${module} in the image of ${deployment.id} (function modules: ${names.join(', ') || 'none'})`, {
      code: 'NOT_FOUND',
      tryMessage: 'A function module is an agent with "sandbox": true; see `tarscli os hyperlight list`.',
    });
  }
  const sig = sm.functions.find((f) => f.name === fn);
  if (!sig) {
    throw new AbortError(`${module} has no function ${fn}; it exports: ${sm.functions.map(formatSignature).join(', ') || 'nothing'}`, { code: 'NOT_FOUND' });
  }
  return sig;
}

/** A value as JSON can carry it (64-bit integers as decimal strings, bytes as base64). */
export function sandboxValueJson(v: SbValue): { type: SbType; value: unknown } {
  switch (v.type) {
    case 'void':
      return { type: 'void', value: null };
    case 'i64':
    case 'u64':
      return { type: v.type, value: v.value.toString() };
    case 'bytes':
      return { type: 'bytes', value: v.value.toString('base64') };
    default:
      return { type: v.type, value: v.value };
  }
}

export interface HyperlightCallOptions {
  deployment: DeploymentRecord;
  module: string;
  function: string;
  /** JSON array (parseSandboxArgs). */
  args: string;
  /** Snapshot the sandbox before its first such call and restore it after each. */
  restore?: boolean;
  client?: ProtocolClient;
  timeoutMs?: number;
}

export interface HyperlightCallResult {
  deployment: string;
  module: string;
  function: string;
  sandbox: number;
  seq: number;
  result: { type: SbType; value: unknown };
  restored: boolean;
}

interface SbResultReply {
  sandbox: number;
  seq: number;
  done: boolean;
  status?: number;
  guest_status?: number;
  poison?: number;
  detail?: number;
  result?: string;
}

const POISON = ['', 'fault', 'system call', 'deadline', 'abort', 'killed'];
const E_GUEST_ERROR = -14;

/** A call's outcome from the kernel: its result value, or the error to throw. */
async function sandboxCall(c: ProtocolClient, o: { deployment: string; module: string; function: string; call: Buffer; restore?: boolean; deadline: number; timeoutMs: number }): Promise<{ sandbox: number; seq: number; value: SbValue }> {
  let started: { sandbox: number; seq: number };
  try {
    started = await c.request<{ sandbox: number; seq: number }>('sb_call', { module: o.module, call: o.call.toString('base64'), ...(o.restore ? { restore: true } : {}) });
  } catch (err) {
    if (err instanceof ProtocolError && err.kernelCode === 'NO_SUCH_MODULE') {
      throw new AbortError(`No function module ${o.module} in ${o.deployment}`, { code: 'NOT_FOUND', tryMessage: 'A function module has `sandbox=yes` (and `boot=no`) on its module line; see `tarscli os ps ID`.' });
    }
    throw err;
  }
  for (let polls = 0; ; polls++) {
    const r = await c.request<SbResultReply>('sb_result', { module: o.module });
    if (r.seq === started.seq && r.done) {
      const bytes = Buffer.from(r.result ?? '', 'base64');
      if (r.status === 0) {
        const v = decodeSandboxValue(bytes);
        if (!v) throw new AbortError(`${o.module}.${o.function} returned a result that does not decode (${bytes.length} bytes)`, { code: 'PROTOCOL_ERROR' });
        return { sandbox: started.sandbox, seq: started.seq, value: v };
      }
      if (r.status === E_GUEST_ERROR) {
        const msg = decodeSandboxValue(bytes);
        throw new AbortError(`${o.module}.${o.function} failed: ${msg?.type === 'string' ? msg.value : 'no message'} (guest status ${r.guest_status})`, { code: 'EXTERNAL_FAILED' });
      }
      const why = POISON[r.poison ?? 0] ?? `reason ${r.poison}`;
      throw new AbortError(`${o.module}.${o.function} poisoned its sandbox (${why}, detail ${r.detail}); the rest of the system runs on`, {
        code: 'EXTERNAL_FAILED',
        tryMessage: 'Call again with --restore to start from the snapshot (taken before the first --restore call).',
      });
    }
    if (Date.now() > o.deadline) throw new AbortError(`${o.module}.${o.function} did not finish within ${o.timeoutMs} ms`, { code: 'TIMEOUT' });
    // Most calls are done by the first poll; a long one is polled every 5 ms.
    if (polls > 0) await new Promise((res) => setTimeout(res, 5));
  }
}

/** `os hyperlight call`: check, encode, start with `sb_call`, poll `sb_result` until this call is done. */
export async function hyperlightCall(o: HyperlightCallOptions): Promise<HyperlightCallResult> {
  const call = encodeSandboxCall(o.function, parseSandboxArgs(o.args, sandboxSignature(o.deployment, o.module, o.function), o.module));
  if (call.length > SB_CALL_MAX) throw new AbortError(`The encoded call is ${call.length} bytes; sb_call carries at most ${SB_CALL_MAX}`, { code: 'USAGE' });
  const timeoutMs = o.timeoutMs ?? 10_000;
  return withControl(o.deployment, o.client, async (c) => {
    const r = await sandboxCall(c, { deployment: o.deployment.id, module: o.module, function: o.function, call, ...(o.restore ? { restore: true } : {}), deadline: Date.now() + timeoutMs, timeoutMs });
    return { deployment: o.deployment.id, module: o.module, function: o.function, sandbox: r.sandbox, seq: r.seq, result: sandboxValueJson(r.value), restored: o.restore ?? false };
  });
}

export interface RunSimulationOptions {
  root: string;
  config: TarsConfig;
  /** A running deployment to use; without it one is booted from the built image and stopped after. */
  deployment?: DeploymentRecord;
  module: string;
  /** The policy: (u32 cell, u32 seed) -> u32 action. */
  function: string;
  agents: number;
  iterations: number;
  seed: number;
  device: 'auto' | 'gpu' | 'cpu';
  signal?: AbortSignal;
  onInfo?: (line: string) => void;
  onProgress?: (iteration: number, meanReward: number) => void;
  client?: ProtocolClient;
}

export interface RunSimulationResult {
  deployment: string;
  /** The deployment was booted for the run (and stopped after). */
  booted: boolean;
  module: string;
  function: string;
  device: 'gpu' | 'cpu';
  deviceName: string;
  agents: number;
  iterations: number;
  seed: number;
  /** Guest calls made (agents × iterations). */
  calls: number;
  elapsedMs: number;
  /** Mean time of a policy call, round trip over the control channel included. */
  callMeanUs: number;
  /** Mean time of an environment step. */
  stepMeanUs: number;
  /** Mean reward per agent per iteration, in food units (1 = a whole food cell). */
  curve: number[];
  /** Share of agent-steps that ended on food. */
  onFood: number;
}

const POLICY_PARAMS = ['u32', 'u32'];

/** A per-agent, per-step seed for the policy (xorshift of the run's seed, the agent and the step). */
function policySeed(seed: number, agent: number, iter: number): number {
  let x = (seed ^ Math.imul(agent + 1, 0x9e3779b9) ^ Math.imul(iter + 1, 0x85ebca6b)) >>> 0 || 1;
  x ^= x << 13;
  x >>>= 0;
  x ^= x >>> 17;
  x ^= x << 5;
  return x >>> 0;
}

/**
 * `os hyperlight run-simulation`: N agents on the grid world of `os simulate`, each choosing its
 * action with the guest function `module.function` called in the system's sandbox of that module
 * (one call per agent per iteration, over the control channel); the environment steps on the GPU
 * module or its CPU reference (gpu-modules, runner `env`).
 */
export async function hyperlightRunSimulation(o: RunSimulationOptions): Promise<RunSimulationResult> {
  let deployment = o.deployment;
  let booted = false;
  if (!deployment) {
    const dir = imageDir(o.root, o.config, o.config.image.format);
    if (!existsSync(join(dir, 'manifest.json'))) throw new AbortError(`No image at ${dir} to boot for the run`, { code: 'NOT_FOUND', tryMessage: `Build it with \`tarscli os build --format ${o.config.image.format}\`, or pass --deployment ID.` });
    const manifest = readManifest(join(dir, 'manifest.json'));
    if (!manifest.sandboxModules.some((m) => m.name === o.module)) {
      throw new AbortError(`No function module ${o.module} in the image at ${dir} (function modules: ${manifest.sandboxModules.map((m) => m.name).join(', ') || 'none'})`, { code: 'NOT_FOUND', tryMessage: 'Rebuild the image after adding it: tarscli os build.' });
    }
    o.onInfo?.(`booting ${dir} for the run`);
    const outcome = await getDeployer('qemu').deploy({ root: o.root, imageDir: dir, manifest, accel: o.config.qemu.accel, machine: o.config.qemu.machine, firmware: 'bios', memoryMb: o.config.qemu.memoryMb, bootTimeoutMs: o.config.qemu.bootTimeoutMs, ...(o.signal ? { signal: o.signal } : {}) });
    if (outcome.kind !== 'machines' || !outcome.deployments[0]) throw new AbortError('The deployment for the run did not start', { code: 'BUG' });
    deployment = outcome.deployments[0].record;
    booted = true;
    o.onInfo?.(`deployment ${deployment.id} is ready`);
  }
  const dep = deployment;
  try {
    const sig = sandboxSignature(dep, o.module, o.function);
    if (sig && (sig.params.join(',') !== POLICY_PARAMS.join(',') || sig.result !== 'u32')) {
      throw new AbortError(`${o.module}.${formatSignature(sig)} is not a policy: run-simulation calls (u32 cell, u32 seed) -> u32 action`, { code: 'USAGE' });
    }
    const env = await startEnvironment({ gpuPath: resolve(o.root, o.config.gpu.path), agents: o.agents, seed: o.seed, device: o.device, ...(o.signal ? { signal: o.signal } : {}), ...(o.onInfo ? { onWarning: o.onInfo, onBuild: o.onInfo } : {}) });
    try {
      o.onInfo?.(`environment on ${env.device} (${env.deviceName}); policy ${o.module}.${o.function} in a sandbox of ${dep.id}`);
      const curve: number[] = [];
      let pos = env.pos;
      let callNs = 0n;
      let stepNs = 0n;
      let food = 0;
      const t0 = performance.now();
      await withControl(dep, o.client, async (c) => {
        for (let it = 0; it < o.iterations; it++) {
          if (o.signal?.aborted) throw new CancelledError();
          const actions: number[] = [];
          for (let i = 0; i < o.agents; i++) {
            const call = encodeSandboxCall(o.function, [
              { type: 'u32', value: pos[i] as number },
              { type: 'u32', value: policySeed(o.seed, i, it) },
            ]);
            const c0 = process.hrtime.bigint();
            const r = await sandboxCall(c, { deployment: dep.id, module: o.module, function: o.function, call, deadline: Date.now() + 10_000, timeoutMs: 10_000 });
            callNs += process.hrtime.bigint() - c0;
            if (r.value.type !== 'u32') throw new AbortError(`${o.module}.${o.function} returned ${r.value.type}, not u32`, { code: 'EXTERNAL_FAILED' });
            actions.push(r.value.value);
          }
          const s0 = process.hrtime.bigint();
          const step = await env.step(actions);
          stepNs += process.hrtime.bigint() - s0;
          pos = step.pos;
          food += step.reward.filter((r) => r > 0).length;
          curve.push(step.total / o.agents / FOOD);
          o.onProgress?.(it, curve[curve.length - 1] as number);
        }
      });
      const calls = o.agents * o.iterations;
      return {
        deployment: dep.id,
        booted,
        module: o.module,
        function: o.function,
        device: env.device,
        deviceName: env.deviceName,
        agents: o.agents,
        iterations: o.iterations,
        seed: o.seed,
        calls,
        elapsedMs: Math.round(performance.now() - t0),
        callMeanUs: Math.round(Number(callNs / 1000n) / calls),
        stepMeanUs: Math.round(Number(stepNs / 1000n) / o.iterations),
        curve,
        onFood: food / calls,
      };
    } finally {
      await env.close();
    }
  } finally {
    if (booted) {
      await stopDeployment(o.root, dep);
      o.onInfo?.(`deployment ${dep.id} stopped`);
    }
  }
}

export interface LiveSandbox {
  /** The guest context's task id (what `os kill` takes). */
  task: number;
  module: string;
  /** `sandbox_idle` between calls, `runnable` while a call runs. */
  state: string;
}

/**
 * The live sandboxes of a running deployment: the guest contexts among its tasks (each sandbox
 * runs its calls in a task named after its module; `tasks` lists them, `sandbox_idle` between
 * calls), for the function modules its image lists.
 */
export async function hyperlightLiveSandboxes(deployment: DeploymentRecord, client?: ProtocolClient): Promise<{ modules: string[]; sandboxes: LiveSandbox[] }> {
  const dir = deployment.image?.dir;
  const modules = dir && existsSync(join(dir, 'manifest.json')) ? readManifest(join(dir, 'manifest.json')).sandboxModules.map((m) => m.name) : [];
  return withControl(deployment, client, async (c) => {
    const sandboxes: LiveSandbox[] = [];
    for (let offset = 0; ; ) {
      const page = await c.request<{ tasks: { id: number; name: string; state: string }[]; total: number }>('tasks', { offset, limit: 32 });
      for (const t of page.tasks) if (t.state === 'sandbox_idle' || modules.includes(t.name)) sandboxes.push({ task: t.id, module: t.name, state: t.state });
      offset += page.tasks.length;
      if (page.tasks.length === 0 || offset >= page.total) break;
    }
    return { modules, sandboxes };
  });
}
