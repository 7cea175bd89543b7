//! Kernel heap: kcore's first-fit free list with coalescing over one contiguous run of frames
//! taken at boot (an eighth of RAM, between 4 and 32 MiB), reached through the kernel's map of
//! RAM. It holds the long-lived allocations — a hot-swap's incoming image above all (up to
//! `swap::MAX_IMAGE`) — and gives freed blocks back for reuse.
use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use kcore::frames::FRAME_SIZE;
use kcore::heap::FreeList;

pub struct KernelHeap(UnsafeCell<FreeList>);

// SAFETY: single CPU, and the kernel allocates only with interrupts disabled.
unsafe impl Sync for KernelHeap {}

#[global_allocator]
pub static HEAP: KernelHeap = KernelHeap(UnsafeCell::new(FreeList::empty()));

const MIN_HEAP: u64 = 4 << 20;
const MAX_HEAP: u64 = 32 << 20;

/// Take the heap's frames (after the frame allocator is up). Returns the heap size.
pub fn init() -> u64 {
    let ram = crate::memory::ram_frames() as u64 * FRAME_SIZE;
    let mut size = (ram / 8).clamp(MIN_HEAP, MAX_HEAP);
    while size >= MIN_HEAP / 4 {
        if let Some(pa) = crate::memory::frames().alloc_contiguous((size / FRAME_SIZE) as usize) {
            // SAFETY: these frames are now the heap's alone; reached through the kernel's RAM map.
            unsafe { (*HEAP.0.get()).init(crate::memory::phys_ptr(pa) as usize, size as usize) };
            return size;
        }
        size /= 2;
    }
    0
}

unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        (*self.0.get()).alloc(layout.size(), layout.align()).map(|p| p as *mut u8).unwrap_or(core::ptr::null_mut())
    }
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        (*self.0.get()).free(ptr as usize);
    }
}

/// (bytes in use, bytes total).
pub fn usage() -> (usize, usize) {
    // SAFETY: read of the allocator state on the only CPU.
    let (used, total, _) = unsafe { (*HEAP.0.get()).usage() };
    (used, total)
}
