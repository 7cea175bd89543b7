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
  tasks: TaskStats[];
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
  state: string;
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
}

export interface LogResult {
  lines: { t_us: number; line: string }[];
}
