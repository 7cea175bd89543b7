/** Shapes of the kernel's events and control replies (PROTOCOL.md, version 1). */
export const PROTOCOL_VERSION = 1;

export interface KernelEvent {
  v: number;
  seq: number;
  t_us: number;
  ev: string;
  [field: string]: unknown;
}

export interface TaskStats {
  id: number;
  name: string;
  module: string;
  state: string;
  level: number;
  base_level: number;
  cpu_us: number;
  switches: number;
  syscalls: number;
  ipc_calls: number;
  /** Display id of the task that spawned it; -1 for tasks started at boot or by the host. */
  parent: number;
  /** Live children it spawned. */
  children: number;
  paused: boolean;
  /** Started at run time (`spawn`), not at boot. */
  spawned: boolean;
  /** Physical frames it holds. */
  frames: number;
  /** Exit code of a task that has ended and not yet been reaped. */
  code?: number;
  /** Linux processes: their pid. */
  pid?: number;
}

/** One page of the `tasks` control command. */
export interface TaskPage {
  total: number;
  offset: number;
  tasks: TaskStats[];
}

/** Every task, paged through `tasks` until `total`. */
export interface TaskList {
  total: number;
  tasks: TaskStats[];
}

export interface SpawnReply {
  module: string;
  tasks: { id: number; handle: number }[];
  /** Set when fewer than `count` started: what stopped the rest. */
  failed?: { code: 'SPAWN_FAILED' | string; message: string };
}

export type TaskAction = 'kill' | 'pause' | 'resume';

/** One page of a task's kept state (`snapshot`): `size` and `sha256` are the whole state's. */
export interface SnapshotPage {
  task: number;
  module: string;
  size: number;
  sha256: string;
  offset: number;
  /** base64 of at most 8 KiB from `offset`. */
  data: string;
}

export interface FaultRecord {
  t_us: number;
  vector: number;
  rip: string;
  cr2: string;
  error: number;
  task: number;
  name: string;
  rsp?: string;
  rbp?: string;
  rax?: string;
  rdi?: string;
  rsi?: string;
  /** Return addresses from a frame-pointer walk of the agent's stack, innermost first. */
  stack?: string[];
  /** sha256 of the image the faulting task ran. */
  sha256?: string;
  /** A Linux executable's load bias (static-pie: where it runs minus where it is linked). */
  load_bias?: string;
  /** Added on the host: `rip` and `stack` symbolized from the image's debug files. */
  frames?: import('../symbolize.js').SymbolizedFrame[];
}

export interface KernelStats {
  uptime_us: number;
  ready_us: number;
  ticks: number;
  tick_hz: number;
  tsc_per_us: number;
  memory: { frames_total: number; frames_free: number; used_bytes: number; free_bytes: number; heap_used: number; heap_total: number };
  /** The first tasks only (at most 32); `task_count` is how many there are: page the rest with `tasks`. */
  tasks: TaskStats[];
  /** All tasks; absent from kernels older than run-time spawning (then `tasks` is all). */
  task_count?: number;
  scheduler: { context_switches: number; idle_ticks: number; switch_cycles_min: number; switch_cycles_avg: number; quantum_ticks: number };
  ipc: { calls: number; replies: number; notifications: number; shm_maps: number };
  syscalls: number;
  metrics: Record<string, number>;
  faults: FaultRecord[];
  fault_count: number;
}

export interface ModuleInfo {
  name: string;
  version: string;
  sha256: string;
  size: number;
  /** `running`, …, or `image`: a `boot=no` module that only runs when spawned. */
  state: 'image' | (string & {});
  task: number;
  swaps?: number;
  /** The supervisor's policy on a fault: `restart` (with backoff) or `stop`. */
  fault_policy?: 'restart' | 'stop';
  restarts?: number;
  last_fault?: FaultRecord;
  /** `linux` for an unmodified static Linux executable (module line `abi=linux`). */
  abi?: 'linux';
  /** Linux processes: pid, live threads, frames in use / most ever / limit (KiB; limit 0 = none). */
  pid?: number;
  threads?: number;
  mem_kib?: number;
  peak_kib?: number;
  limit_kib?: number;
  /** Linux system calls the kernel answered -ENOSYS, with how often, over the module's life. */
  enosys?: { nr: number; count: number }[];
}

export interface PingResult {
  pong: boolean;
  protocol: number;
  kernel: string;
  uptime_us: number;
  /** The host window (`hostwin=` on the kernel command line): guest physical base and size. */
  host_window?: { base: number; size: number };
}

export interface LogResult {
  lines: { t_us: number; line: string }[];
}
