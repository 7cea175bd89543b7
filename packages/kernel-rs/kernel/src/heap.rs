//! Kernel heap: kcore's first-fit free list with coalescing, reached through the kernel's map of
//! RAM. It starts with 1 MiB of frames and grows on demand by whole runs of contiguous frames
//! (at least 1 MiB, up to an eighth of RAM in all, at least 16 MiB so a hot-swap image fits):
//! a system that never swaps a big module keeps its memory. Freed blocks are reused.
use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use kcore::frames::FRAME_SIZE;
use kcore::heap::FreeList;

pub struct KernelHeap(UnsafeCell<FreeList>);

// SAFETY: single CPU, and the kernel allocates only with interrupts disabled.
unsafe impl Sync for KernelHeap {}

#[global_allocator]
pub static HEAP: KernelHeap = KernelHeap(UnsafeCell::new(FreeList::empty()));

const INITIAL: u64 = 1 << 20;
const GROW_MIN: u64 = 1 << 20;

/// How far the heap may grow: an eighth of RAM, at least 16 MiB (a hot-swap image), at most 64.
fn limit() -> u64 {
    (crate::memory::ram_frames() as u64 * FRAME_SIZE / 8).clamp(16 << 20, 64 << 20)
}

/// Add a run of at least `bytes` of frames to the heap. False when RAM has no such run or the
/// heap is at its limit.
fn grow(bytes: u64) -> bool {
    // SAFETY: the allocator state on the only CPU, interrupts off.
    let h = unsafe { &mut *HEAP.0.get() };
    let size = bytes.max(GROW_MIN).next_multiple_of(FRAME_SIZE);
    if h.usage().1 as u64 + size > limit() {
        return false;
    }
    let Some(pa) = crate::memory::frames().alloc_contiguous((size / FRAME_SIZE) as usize) else { return false };
    // SAFETY: these frames are now the heap's alone; reached through the kernel's RAM map.
    unsafe { h.add_region(crate::memory::phys_ptr(pa) as usize, size as usize) };
    true
}

/// Give the heap its first frames (after the frame allocator and the kernel's map are up).
/// Returns the heap size.
pub fn init() -> u64 {
    if grow(INITIAL) {
        usage().1 as u64
    } else {
        0
    }
}

unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let h = &mut *self.0.get();
        if let Some(p) = h.alloc(layout.size(), layout.align()) {
            return p as *mut u8;
        }
        // Room for the block, its header and its alignment in one new run.
        if grow(layout.size() as u64 + layout.align() as u64 + 64) {
            if let Some(p) = (*self.0.get()).alloc(layout.size(), layout.align()) {
                return p as *mut u8;
            }
        }
        core::ptr::null_mut()
    }
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        (*self.0.get()).free(ptr as usize);
    }
}

/// (bytes in use, bytes the heap has now).
pub fn usage() -> (usize, usize) {
    // SAFETY: read of the allocator state on the only CPU.
    let (used, total, _) = unsafe { (*HEAP.0.get()).usage() };
    (used, total)
}

/// How far the heap may still grow, in bytes.
pub fn headroom() -> usize {
    limit().saturating_sub(usage().1 as u64) as usize
}

/// `Box::new` that reports a full heap instead of halting the kernel (a process or a pipe that
/// cannot be allocated is an error for its caller).
pub fn try_box<T>(value: T) -> Option<alloc::boxed::Box<T>> {
    let layout = Layout::new::<T>();
    // SAFETY: a fresh allocation of T's layout; the value is written before the Box owns it.
    unsafe {
        let p = alloc::alloc::alloc(layout) as *mut T;
        if p.is_null() {
            return None;
        }
        p.write(value);
        Some(alloc::boxed::Box::from_raw(p))
    }
}
