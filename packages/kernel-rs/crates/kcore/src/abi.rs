//! The user ↔ kernel system-call ABI, shared by the kernel and the agent runtime.
//!
//! The `syscall` instruction with the number in `rax` and arguments in `rdi, rsi, rdx, r10, r8`
//! (`rcx` and `r11` are clobbered, as the instruction defines). TARS calls use numbers from
//! `SYS_TARS_BASE`; numbers below it are reserved for the Linux x86-64 personality, so
//! unmodified static executables can be served by the same entry later without collision.
//! Results: `rax` = status (0 or a negative `E_*`); `rdi` = badge/value; `rsi, rdx, r10, r8` =
//! message words.

/// First TARS system-call number; [0, SYS_TARS_BASE) is the Linux x86-64 range.
pub const SYS_TARS_BASE: u64 = 0x1000;
/// How many TARS calls the table has room for.
pub const SYS_TARS_COUNT: u64 = 48;

pub const SYS_LOG: u64 = SYS_TARS_BASE;
pub const SYS_YIELD: u64 = SYS_TARS_BASE + 1;
pub const SYS_EXIT: u64 = SYS_TARS_BASE + 2;
/// call(cap, m0..m3) → reply words. Blocks until the server replies.
pub const SYS_CALL: u64 = SYS_TARS_BASE + 3;
/// recv(cap) → (badge, m0..m3). Blocks until a caller arrives.
pub const SYS_RECV: u64 = SYS_TARS_BASE + 4;
/// reply(m0..m3) to the caller received last.
pub const SYS_REPLY: u64 = SYS_TARS_BASE + 5;
/// reply(m0..m3) then recv(cap): the server loop's fast path.
pub const SYS_REPLY_RECV: u64 = SYS_TARS_BASE + 6;
/// notify(cap, bits): OR bits into a notification and wake its waiter. Never blocks.
pub const SYS_NOTIFY: u64 = SYS_TARS_BASE + 7;
/// wait(cap) → bits (cleared). Blocks while no bit is set.
pub const SYS_WAIT: u64 = SYS_TARS_BASE + 8;
/// shm_map(cap) → address of the shared buffer in the caller's window.
pub const SYS_SHM_MAP: u64 = SYS_TARS_BASE + 9;
/// metric(name_ptr, name_len, value): publish a named figure as a kernel event.
pub const SYS_METRIC: u64 = SYS_TARS_BASE + 10;
/// time() → microseconds since boot in rdi.
pub const SYS_TIME: u64 = SYS_TARS_BASE + 11;
/// sleep(us): block for at least `us` microseconds (timer-tick granularity).
pub const SYS_SLEEP: u64 = SYS_TARS_BASE + 12;
/// ready(): the task finished initialising. A task started by a hot-swap must call it before
/// the health deadline, or the swap is rolled back.
pub const SYS_READY: u64 = SYS_TARS_BASE + 13;
/// state_save(ptr, len): keep up to STATE_MAX bytes of state in the kernel: for a module's own
/// task, the module's (a hot-swap's next version reads it); for a spawned instance, its own.
pub const SYS_STATE_SAVE: u64 = SYS_TARS_BASE + 14;
/// state_load(ptr, cap) → rdi = bytes copied, rsi = the state's whole length: read the saved
/// state (a module's own task: the module's, the hot-swap hand-over hook; a spawned instance:
/// the state it was spawned with, or what it saved since).
pub const SYS_STATE_LOAD: u64 = SYS_TARS_BASE + 15;

/// spawn(name_ptr, name_len, arg, grants_ptr, grants_len) → rdi = the child's handle, rsi = its
/// display id. Starts a new task from the boot module `name` (its image; the child's `rsi` at
/// start is `arg`) with the capabilities the grants describe, in order from slot 0: each grant
/// is a `u64` made by `grant(slot, rights, badge)` from one of the caller's own slots. A grant
/// never carries more than the caller holds (E_NO_RIGHTS); a badge can be set on an unbadged
/// endpoint only. The caller's module must allow `name` (`spawn=` on its command line: E_NO_RIGHTS),
/// and its quotas bound the live children (`children=`, E_QUOTA) and their memory (`child_mem=`
/// MiB, E_QUOTA). An image that does not load is E_BAD_IMAGE; no such module E_BAD_IMAGE too.
pub const SYS_SPAWN: u64 = SYS_TARS_BASE + 16;
/// kill(handle): end a child of the caller (and its children): exit code EXIT_KILLED. Its
/// tombstone stays until `wait_child` takes it. Not the caller's child, or stale: E_NO_CHILD.
pub const SYS_KILL: u64 = SYS_TARS_BASE + 17;
/// suspend(handle): the child stops being scheduled (whatever it waits for still arrives).
pub const SYS_SUSPEND: u64 = SYS_TARS_BASE + 18;
/// resume(handle): undo `suspend`.
pub const SYS_RESUME: u64 = SYS_TARS_BASE + 19;
/// wait_child(handle | ANY_CHILD, flags) → rdi = exit code, rsi = the ended child's handle. Blocks
/// until the child (or any child) has ended, then frees its tombstone; with WAIT_NOHANG a child
/// still running is E_BUSY. No child to wait for: E_NO_CHILD.
pub const SYS_WAIT_CHILD: u64 = SYS_TARS_BASE + 20;
/// ep_create() → rdi = the capability slot of a new endpoint (send and receive rights). The
/// endpoint lives while a capability to it does. No free slot: E_NO_MEMORY.
pub const SYS_EP_CREATE: u64 = SYS_TARS_BASE + 21;
/// cap_drop(slot): empty a capability slot (an endpoint nobody else holds is destroyed).
pub const SYS_CAP_DROP: u64 = SYS_TARS_BASE + 22;


/// sb_create(name_ptr, name_len, from) → rdi = a sandbox handle (slot | generation << 16). A sandbox
/// is an address space made from a function module (`sandbox=yes` on its line; E_BAD_IMAGE
/// otherwise): its read-only pages borrowed from the boot image, shared by every sandbox of the
/// module; its writable pages, stack and I/O pages private. Bounded by the caller's module line:
/// `sandboxes=N` live sandboxes (default 4) and `sandbox_mem=MiB` of their frames, snapshots
/// included (default 4): E_QUOTA.
/// `from` = 0: from the image; SB_FROM_SNAPSHOT | handle: a new sandbox of the same module whose
/// writable memory starts as that sandbox's snapshot (the caller's; E_NO_SNAPSHOT without one,
/// E_BAD_IMAGE when `name` is another module).
pub const SYS_SB_CREATE: u64 = SYS_TARS_BASE + 23;
/// `sb_create`'s `from`: start from the snapshot of the sandbox in the low bits.
pub const SB_FROM_SNAPSHOT: u64 = 1 << 63;
/// sb_call(handle, args_ptr, args_len, result_ptr, result_cap) → rdi = bytes copied to
/// result_ptr, rsi = the result's whole length, rdx = the guest's status. Runs the guest on the
/// caller's time (the caller blocks; no scheduler pass to enter it). `args` is an encoded call
/// (`kcore::sbcall`, at most SB_IO_IN bytes). Statuses: E_OK, E_GUEST_ERROR (the function
/// returned an error: rdx its code, the result its message), E_POISONED (this call poisoned the
/// sandbox or it was already: rdi = SB_POISON_* reason; when this call was ended, rsi = the
/// kernel's TSC at that moment, for kill latencies), E_NO_SANDBOX, E_HOST_CALL (see sb_host_call).
pub const SYS_SB_CALL: u64 = SYS_TARS_BASE + 24;
/// sb_snapshot(handle) → rdi = pages kept, rsi = pages copied: copy the sandbox's writable
/// pages (a later snapshot: only those written since the last snapshot or restore); later writes
/// are tracked by the page tables' dirty bits.
pub const SYS_SB_SNAPSHOT: u64 = SYS_TARS_BASE + 25;
/// sb_restore(handle) → rdi = pages copied back: only pages written since the snapshot; clears
/// a poisoning. No snapshot: E_NO_SNAPSHOT.
pub const SYS_SB_RESTORE: u64 = SYS_TARS_BASE + 26;
/// sb_destroy(handle): free the sandbox, its frames and its snapshot.
pub const SYS_SB_DESTROY: u64 = SYS_TARS_BASE + 27;
/// Guest gate: sb_return(status, out_len) — the function is done; `out_len` bytes of result at
/// SB_IO_BASE + SB_IO_IN go to the caller. One of the only three calls a guest may make.
pub const SYS_SB_RETURN: u64 = SYS_TARS_BASE + 28;
/// Guest gate: sb_abort(code) — the guest gives up (a panic): the caller gets E_GUEST_ABORT with
/// `code` in rdx and the sandbox is poisoned (its state is suspect). A guest may also `log`.
pub const SYS_SB_ABORT: u64 = SYS_TARS_BASE + 29;
/// Guest gate: sb_host_call(len) → rax = the host's status (0, or a GUEST_* code), rdi = the
/// result's length. The guest wrote an encoded call (`kcore::sbcall`: a host function's name and
/// its arguments) of `len` bytes at SB_IO_BASE + SB_IO_IN; the owner's `sb_call` (or
/// `sb_host_reply`) returns E_HOST_CALL with those bytes in its result buffer, the guest waits,
/// and the owner's `sb_host_reply` puts one encoded value (the result, or the error message) at
/// SB_IO_BASE + SB_IO_IN and resumes it. The call's deadline runs on meanwhile. `len` over
/// SB_IO_OUT, or a sandbox the host (control channel) owns: GUEST_BAD_ARGS / GUEST_NO_SUCH_FUNCTION
/// at once, with no owner involved.
pub const SYS_SB_HOST_CALL: u64 = SYS_TARS_BASE + 30;
/// sb_host_reply(handle, status, result_ptr, result_len): answer the guest's host call (status 0
/// and an encoded value, or a GUEST_* code and an encoded string message; at most SB_IO_OUT
/// bytes) and resume it on the caller's time; returns as `sb_call` does (the call's result, or
/// E_HOST_CALL again). No host call pending: E_NO_CALLER, or E_POISONED (rdi: the reason) when
/// the call ended meanwhile (its deadline, a kill).
pub const SYS_SB_HOST_REPLY: u64 = SYS_TARS_BASE + 31;

/// Device grants (`device.rs`): a PCI device the kernel found at boot is granted to the one
/// module whose command line names it (`device=blk0`), to its module task only (not to tasks it
/// spawns), while that task lives. The grant ends with the task: the kernel turns the device's
/// bus mastering off, masks its interrupt, and the task's DMA frames are freed with its address
/// space.
/// dev_open(name_ptr, name_len) → rdi = a device handle (index | generation << 16), rsi =
/// vendor << 16 | device id (| DEV_MMIO for a virtio-mmio transport: then the device id is
/// virtio's, 2 for a block device, and BAR 0 is its register block), rdx = its interrupt line. Not named on the caller's module line (or a
/// spawned task): E_NO_RIGHTS; held by another live task: E_BUSY; no such device: E_NO_DEVICE.
/// Turns the device's memory decoding and bus mastering on.
pub const SYS_DEV_OPEN: u64 = SYS_TARS_BASE + 32;
/// dev_config(handle, offset) → rdi = the 32-bit word at `offset` (4-aligned, < 256) of the
/// device's PCI configuration space (read only: capability lists, BAR sizes).
pub const SYS_DEV_CONFIG: u64 = SYS_TARS_BASE + 33;
/// dev_map(handle, bar) → rdi = the address of the memory BAR mapped in the caller's window
/// (uncached, not executable; DEV_WINDOW + bar * DEV_BAR_SPAN), rsi = its size. An I/O-port BAR,
/// an absent one or one over DEV_BAR_SPAN: E_BAD_ARGS.
pub const SYS_DEV_MAP: u64 = SYS_TARS_BASE + 34;
/// dev_irq(handle, notif_slot, bits): deliver the device's interrupt as `bits` on the caller's
/// notification. Each interrupt masks the line until `dev_irq_ack` (level-triggered lines stay
/// raised until the driver has read the device's interrupt status).
pub const SYS_DEV_IRQ: u64 = SYS_TARS_BASE + 35;
/// dev_irq_ack(handle): unmask the line after the driver handled the interrupt.
pub const SYS_DEV_IRQ_ACK: u64 = SYS_TARS_BASE + 36;
/// dma_alloc(handle, pages) → rdi = the address of `pages` physically contiguous zeroed frames in
/// the caller's window (writable, not executable), rsi = their physical address (what the device
/// is given). Bounded by `dma=PAGES` on the module line (default DMA_DEFAULT_PAGES): E_QUOTA.
pub const SYS_DMA_ALLOC: u64 = SYS_TARS_BASE + 37;
/// `dev_open`'s rsi bit: the device is a virtio-mmio transport (QEMU `microvm`), not PCI.
pub const DEV_MMIO: u64 = 1 << 32;
/// Where a granted device's BARs are mapped, DEV_BAR_SPAN bytes apart.
pub const DEV_WINDOW: u64 = 0xD0_0000_0000;
pub const DEV_BAR_SPAN: u64 = 1 << 20;
/// Where DMA frames are mapped, in allocation order.
pub const DMA_WINDOW: u64 = 0xD0_1000_0000;
pub const DMA_DEFAULT_PAGES: u64 = 64;
pub const DMA_MAX_PAGES: u64 = 4096;
/// The GPU remoting region (issue 27; ivshmem-plain, 1af4:1110, named gpu0): one device every
/// module naming it on its line may open (`device=gpu0`), its channel chosen by the kernel (the
/// module's rank among the modules naming gpu0, in boot order; `gpu_channel=N` overrides). On it
/// `dev_map(handle, 2)` maps only the region's header page at GPU_WINDOW and the caller's own
/// channel (its pages, as the header lays them out) right after it, at GPU_WINDOW + 4096:
/// rdi = GPU_WINDOW, rsi = 4096 + the channel's size, rdx = the channel index. No other channel's
/// pages are ever in the caller's address space. Two modules resolving to one channel (an
/// explicit gpu_channel colliding): E_BUSY from dev_open for both. Before the broker has written
/// the header: E_BUSY from dev_map. Other BARs, dev_irq and dma_alloc on it: E_BAD_ARGS.
pub const GPU_WINDOW: u64 = 0xD0_4000_0000;
/// The most the kernel maps of one channel (its rings, parameters and data window).
pub const GPU_CHANNEL_MAX: u64 = 256 << 20;

/// Where a guest finds its call (SB_IO_IN bytes) and writes its result (SB_IO_OUT bytes after it).
pub const SB_IO_BASE: u64 = 0x80_3000_0000;
pub const SB_IO_IN: usize = 8192;
pub const SB_IO_OUT: usize = 8192;
/// Why a sandbox was poisoned (rdi of an E_POISONED status).
pub const SB_POISON_FAULT: u64 = 1;
pub const SB_POISON_SYSCALL: u64 = 2;
pub const SB_POISON_DEADLINE: u64 = 3;
pub const SB_POISON_ABORT: u64 = 4;
pub const SB_POISON_KILLED: u64 = 5;

/// `wait_child`'s handle for "whichever child ends first".
pub const ANY_CHILD: u64 = u64::MAX;
/// `wait_child` flag: return E_BUSY instead of blocking.
pub const WAIT_NOHANG: u64 = 1;
/// The exit code of a task ended by `kill` (its parent's or the host's).
pub const EXIT_KILLED: i64 = -9;
/// The exit code of a task ended by a fault (any CPU exception, a fatal signal, its memory limit).
pub const EXIT_FAULTED: i64 = -11;
/// Grant rights: 0 = the same rights as the caller's capability.
pub const GRANT_SAME_RIGHTS: u64 = 0;
/// Endpoint rights in a grant (the kernel's RIGHT_SEND / RIGHT_RECV).
pub const RIGHT_SEND: u64 = 1;
pub const RIGHT_RECV: u64 = 2;

/// One capability grant of `spawn`: the caller's `slot`, the rights the child gets (a subset of
/// the caller's; GRANT_SAME_RIGHTS for all of them), and a badge (endpoints: what a server's
/// `recv` reports for calls through it; 0 = the caller's task id, as for unbadged capabilities).
pub const fn grant(slot: u64, rights: u64, badge: u32) -> u64 {
    (slot & 0xff) | ((rights & 0xff) << 8) | ((badge as u64) << 32)
}

/// A child handle: slot index and generation (a stale handle never names a newer task).
pub const fn handle(index: u16, gen: u16) -> u64 {
    index as u64 | ((gen as u64) << 16)
}

/// Largest state blob a task keeps in the kernel (`state_save`): what a hot-swap hands over, what
/// the host fetches with `snapshot` and gives a new instance at `spawn`.
pub const STATE_MAX: usize = 65_536;
/// The state buffer the Rust lifecycle runner (`agent_rt::lifecycle::run`) keeps on its stack.
pub const LIFECYCLE_STATE_BUF: usize = 256;

pub const E_OK: i64 = 0;
pub const E_BAD_SYSCALL: i64 = -1;
pub const E_BAD_CAP: i64 = -2;
pub const E_NO_RIGHTS: i64 = -3;
pub const E_BAD_ADDRESS: i64 = -4;
pub const E_NO_CALLER: i64 = -5;
pub const E_PEER_DEAD: i64 = -6;
pub const E_BUSY: i64 = -7;
pub const E_NO_MEMORY: i64 = -8;
/// Not a live or ended child of the caller (stale, another parent's, never spawned).
pub const E_NO_CHILD: i64 = -9;
/// A spawn quota (children, child memory) would be exceeded.
pub const E_QUOTA: i64 = -10;
/// The image to spawn does not exist or does not load.
pub const E_BAD_IMAGE: i64 = -11;
/// Not a live sandbox of the caller (stale, another task's, never made).
pub const E_NO_SANDBOX: i64 = -12;
/// The sandbox is poisoned (a fault, a forbidden call, its deadline, an abort): restore it.
pub const E_POISONED: i64 = -13;
/// The guest function returned an error (rdx: its code).
pub const E_GUEST_ERROR: i64 = -14;
/// `sb_restore` without a snapshot.
pub const E_NO_SNAPSHOT: i64 = -15;
/// The guest called `sb_abort` (rdx: its code); the sandbox is poisoned.
pub const E_GUEST_ABORT: i64 = -16;
/// `sb_call` / `sb_host_reply`: the guest calls a host function (its encoded call in the result
/// buffer: rdi bytes copied, rsi its length); answer with `sb_host_reply`.
pub const E_HOST_CALL: i64 = -17;
/// No device of that name was found at boot.
pub const E_NO_DEVICE: i64 = -18;
/// An argument out of its range (a BAR number, a config offset, a page count).
pub const E_BAD_ARGS: i64 = -19;

pub const SHM_PAGES: u64 = 16;
/// Capability slots per task.
pub const CAP_SLOTS: usize = 32;
