//! A first-fit free-list allocator over one arena, with coalescing: the kernel heap. Blocks are
//! 16-byte aligned and start with a header `[size, link]` (size includes the header). A free
//! block's `link` is the next free block (the list is sorted by address, so freeing merges with
//! both neighbours in one pass); a used block keeps, in the word just before the payload, the
//! address of its block (the payload may be aligned further inside it).

const HDR: usize = 16;
const MIN_SPLIT: usize = 64;

pub struct FreeList {
    size: usize,
    /// The span of every region (frees are checked against it).
    lo: usize,
    hi: usize,
    head: usize, // first free block, 0 = none
    used: usize,
    live: usize,
}

#[inline]
fn rd(a: usize) -> usize {
    // SAFETY: callers pass addresses inside the arena the allocator owns, 8-aligned.
    unsafe { core::ptr::read(a as *const usize) }
}
#[inline]
fn wr(a: usize, v: usize) {
    // SAFETY: as in rd.
    unsafe { core::ptr::write(a as *mut usize, v) }
}

impl FreeList {
    pub const fn empty() -> Self {
        FreeList { size: 0, lo: 0, hi: 0, head: 0, used: 0, live: 0 }
    }

    /// Take over [base, base + size) (16-byte aligned, exclusively ours from now on).
    ///
    /// # Safety
    /// The range must be valid, writable memory that nothing else uses while the allocator lives.
    pub unsafe fn init(&mut self, base: usize, size: usize) {
        let start = (base + 15) & !15;
        let size = (base + size - start) & !15;
        self.size = size;
        self.lo = start;
        self.hi = start + size;
        self.used = 0;
        self.live = 0;
        if size >= MIN_SPLIT {
            wr(start, size);
            wr(start + 8, 0);
            self.head = start;
        } else {
            self.head = 0;
        }
    }

    /// Add [base, base + size) (another run of memory, exclusively ours from now on) as free
    /// space: the heap grows on demand instead of taking everything at boot.
    ///
    /// # Safety
    /// As for `init`; the range must not overlap memory the allocator already has.
    pub unsafe fn add_region(&mut self, base: usize, size: usize) {
        let start = (base + 15) & !15;
        let size = (base + size - start) & !15;
        if size < MIN_SPLIT {
            return;
        }
        if self.size == 0 {
            self.init(start, size);
            return;
        }
        self.lo = self.lo.min(start);
        self.hi = self.hi.max(start + size);
        self.size += size;
        wr(start, size);
        self.insert_free(start, size);
    }

    /// (bytes in use including headers, arena bytes, live allocations).
    pub fn usage(&self) -> (usize, usize, usize) {
        (self.used, self.size, self.live)
    }

    /// A block of at least `size` bytes aligned to `align` (a power of two), or None.
    pub fn alloc(&mut self, size: usize, align: usize) -> Option<usize> {
        let align = align.max(16);
        let need = size.checked_add(HDR)?.checked_add(align - 16)?.checked_add(15)? & !15;
        let need = need.max(MIN_SPLIT / 2);
        let (mut prev, mut cur) = (0usize, self.head);
        while cur != 0 {
            let bsize = rd(cur);
            let next = rd(cur + 8);
            if bsize >= need {
                // Split off the tail when worth it.
                let take = if bsize - need >= MIN_SPLIT { need } else { bsize };
                let rest = if take < bsize {
                    let r = cur + take;
                    wr(r, bsize - take);
                    wr(r + 8, next);
                    r
                } else {
                    next
                };
                if prev == 0 {
                    self.head = rest;
                } else {
                    wr(prev + 8, rest);
                }
                wr(cur, take);
                let payload = (cur + HDR + align - 1) & !(align - 1);
                wr(payload - 8, cur);
                self.used += take;
                self.live += 1;
                return Some(payload);
            }
            prev = cur;
            cur = next;
        }
        None
    }

    /// Give back a block `alloc` returned; it merges with free neighbours.
    pub fn free(&mut self, payload: usize) {
        let block = rd(payload - 8);
        let bsize = rd(block);
        assert!(block >= self.lo && block + bsize <= self.hi && payload > block, "heap: free of a pointer it never gave out");
        self.used -= bsize;
        self.live -= 1;
        self.insert_free(block, bsize);
    }

    /// Put block `block` (its header written, `bsize` bytes) into the sorted free list, merging
    /// with free neighbours.
    fn insert_free(&mut self, block: usize, bsize: usize) {
        // Insert sorted by address.
        let (mut prev, mut cur) = (0usize, self.head);
        while cur != 0 && cur < block {
            prev = cur;
            cur = rd(cur + 8);
        }
        assert!(cur != block, "heap: double free");
        wr(block + 8, cur);
        let mut at = block;
        if prev == 0 {
            self.head = block;
        } else if prev + rd(prev) == block {
            // Merge into the previous free block.
            wr(prev, rd(prev) + bsize);
            wr(prev + 8, cur);
            at = prev;
        } else {
            wr(prev + 8, block);
        }
        // Merge with the next free block.
        if cur != 0 && at + rd(at) == cur {
            wr(at, rd(at) + rd(cur));
            wr(at + 8, rd(cur + 8));
        }
    }

    /// Free blocks (count, largest): what a test or diagnostics can check for fragmentation.
    pub fn free_blocks(&self) -> (usize, usize) {
        let (mut n, mut largest, mut cur) = (0, 0, self.head);
        while cur != 0 {
            n += 1;
            largest = largest.max(rd(cur));
            cur = rd(cur + 8);
        }
        (n, largest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arena(bytes: usize) -> (Vec<u128>, FreeList) {
        let mut v = vec![0u128; bytes / 16];
        let mut h = FreeList::empty();
        // SAFETY: the vector outlives the allocator in each test and is used by nothing else.
        unsafe { h.init(v.as_mut_ptr() as usize, bytes) };
        (v, h)
    }

    #[test]
    fn allocates_aligned_blocks_and_coalesces_back_to_one() {
        let (_v, mut h) = arena(1 << 20);
        let mut ptrs = Vec::new();
        for (i, &(size, align)) in [(10, 1), (4096, 4096), (100, 64), (3000, 8), (1, 16)].iter().cycle().take(50).enumerate() {
            let p = h.alloc(size + i, align).expect("room");
            assert_eq!(p % align.max(16), 0);
            // SAFETY: p..p+size is ours.
            unsafe { core::ptr::write_bytes(p as *mut u8, i as u8, size + i) };
            ptrs.push((p, size + i, i as u8));
        }
        for &(p, n, b) in &ptrs {
            // SAFETY: as above; no block overlaps another (the bytes survived).
            assert!(unsafe { core::slice::from_raw_parts(p as *const u8, n) }.iter().all(|&x| x == b));
        }
        // Free in an interleaved order; everything merges back.
        for (k, &(p, _, _)) in ptrs.iter().enumerate() {
            if k % 2 == 0 {
                h.free(p);
            }
        }
        for (k, &(p, _, _)) in ptrs.iter().enumerate() {
            if k % 2 == 1 {
                h.free(p);
            }
        }
        assert_eq!(h.usage().0, 0);
        assert_eq!(h.usage().2, 0);
        assert_eq!(h.free_blocks(), (1, 1 << 20));
    }

    #[test]
    fn reuses_freed_memory_and_reports_exhaustion() {
        let (_v, mut h) = arena(64 << 10);
        let a = h.alloc(40 << 10, 16).unwrap();
        assert!(h.alloc(40 << 10, 16).is_none(), "no room for a second 40 KiB block");
        h.free(a);
        let b = h.alloc(40 << 10, 16).unwrap();
        assert_eq!(a, b);
        assert!(h.alloc(usize::MAX - 8, 16).is_none());
    }

    #[test]
    fn grows_with_added_regions() {
        let (_v, mut h) = arena(64 << 10);
        let mut more = vec![0u128; (256 << 10) / 16];
        assert!(h.alloc(100 << 10, 16).is_none());
        // SAFETY: `more` outlives the allocator and is used by nothing else.
        unsafe { h.add_region(more.as_mut_ptr() as usize, 256 << 10) };
        let p = h.alloc(100 << 10, 16).expect("room in the new region");
        let q = h.alloc(10 << 10, 16).unwrap();
        h.free(p);
        h.free(q);
        assert_eq!(h.usage(), (0, (64 << 10) + (256 << 10), 0));
    }

    #[test]
    fn churn_keeps_the_heap_whole() {
        let (_v, mut h) = arena(256 << 10);
        let mut live: Vec<usize> = Vec::new();
        let mut seed = 12345u64;
        for _ in 0..20000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            if live.len() < 64 && (seed >> 60) < 10 {
                if let Some(p) = h.alloc(((seed >> 20) % 2000) as usize + 1, 1 << ((seed >> 40) % 7)) {
                    live.push(p);
                }
            } else if !live.is_empty() {
                let i = (seed >> 30) as usize % live.len();
                h.free(live.swap_remove(i));
            }
        }
        for p in live {
            h.free(p);
        }
        assert_eq!(h.free_blocks(), (1, 256 << 10));
    }
}
