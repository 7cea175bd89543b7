//! Kernel heap: a bump allocator over a static arena, for the few long-lived allocations
//! (received module images during a hot-swap). Frees are counted, not reused; the arena is reset
//! when nothing is live.
use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;

const HEAP_SIZE: usize = 4 << 20;

#[repr(C, align(4096))]
struct Arena(UnsafeCell<[u8; HEAP_SIZE]>);

pub struct BumpHeap {
    arena: Arena,
    state: UnsafeCell<(usize, usize)>, // (next offset, live allocations)
}

// SAFETY: single CPU, and the kernel allocates only with interrupts disabled.
unsafe impl Sync for BumpHeap {}

#[global_allocator]
pub static HEAP: BumpHeap = BumpHeap { arena: Arena(UnsafeCell::new([0; HEAP_SIZE])), state: UnsafeCell::new((0, 0)) };

unsafe impl GlobalAlloc for BumpHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let st = &mut *self.state.get();
        let base = self.arena.0.get() as usize;
        let start = (base + st.0).next_multiple_of(layout.align());
        let end = start + layout.size();
        if end > base + HEAP_SIZE {
            return core::ptr::null_mut();
        }
        st.0 = end - base;
        st.1 += 1;
        start as *mut u8
    }
    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {
        let st = &mut *self.state.get();
        st.1 -= 1;
        if st.1 == 0 {
            st.0 = 0;
        }
    }
}

/// (bytes in use, bytes total).
pub fn usage() -> (usize, usize) {
    // SAFETY: read of the allocator state on the only CPU.
    let st = unsafe { &*HEAP.state.get() };
    (st.0, HEAP_SIZE)
}
