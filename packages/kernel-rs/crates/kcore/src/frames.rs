//! Physical frame allocator: one bit per 4 KiB frame over a caller-provided bitmap.
//! A set bit means used. Allocation is next-fit from the last allocation.

pub const FRAME_SIZE: u64 = 4096;

pub struct FrameAllocator<'a> {
    bits: &'a mut [u64],
    frames: usize,
    next: usize,
    free: usize,
}

impl<'a> FrameAllocator<'a> {
    /// All frames start used; the boot code frees the usable memory-map ranges.
    pub fn new(bits: &'a mut [u64], frames: usize) -> Self {
        assert!(bits.len() * 64 >= frames, "bitmap too small");
        bits.iter_mut().for_each(|w| *w = !0);
        Self { bits, frames, next: 0, free: 0 }
    }

    fn set(&mut self, f: usize, used: bool) {
        let (w, b) = (f / 64, f % 64);
        let was = self.bits[w] & (1 << b) != 0;
        if used && !was {
            self.bits[w] |= 1 << b;
            self.free -= 1;
        } else if !used && was {
            self.bits[w] &= !(1 << b);
            self.free += 1;
        }
    }

    /// Mark [start, end) (byte addresses) free; partial frames at the edges stay used.
    /// Whole 64-frame words are cleared at once (boot frees hundreds of thousands of frames).
    pub fn free_range(&mut self, start: u64, end: u64) {
        let first = start.div_ceil(FRAME_SIZE) as usize;
        let last = ((end / FRAME_SIZE) as usize).min(self.frames);
        let mut f = first;
        while f < last {
            if f % 64 == 0 && f + 64 <= last {
                let w = f / 64;
                self.free += self.bits[w].count_ones() as usize;
                self.bits[w] = 0;
                f += 64;
            } else {
                self.set(f, false);
                f += 1;
            }
        }
    }

    /// Mark [start, end) used (kernel image, modules, bitmap itself).
    pub fn reserve_range(&mut self, start: u64, end: u64) {
        let first = (start / FRAME_SIZE) as usize;
        let last = (end.div_ceil(FRAME_SIZE) as usize).min(self.frames);
        for f in first..last {
            self.set(f, true);
        }
    }

    pub fn alloc(&mut self) -> Option<u64> {
        if self.free == 0 {
            return None;
        }
        let words = self.frames.div_ceil(64);
        for k in 0..words {
            let w = (self.next / 64 + k) % words;
            if self.bits[w] != !0 {
                let b = (!self.bits[w]).trailing_zeros() as usize;
                let f = w * 64 + b;
                if f >= self.frames {
                    continue;
                }
                self.set(f, true);
                self.next = f;
                return Some(f as u64 * FRAME_SIZE);
            }
        }
        None
    }

    /// `n` physically contiguous free frames (first fit from the bottom), for the kernel heap.
    pub fn alloc_contiguous(&mut self, n: usize) -> Option<u64> {
        if n == 0 || n > self.free {
            return None;
        }
        let mut run = 0;
        let mut f = 0;
        while f < self.frames {
            // Whole words: a used word ends a run, a free one extends it by 64.
            if f % 64 == 0 && f + 64 <= self.frames && run + 64 <= n {
                match self.bits[f / 64] {
                    0 => {
                        run += 64;
                        f += 64;
                        if run == n {
                            let first = f - n;
                            for g in first..f {
                                self.set(g, true);
                            }
                            return Some(first as u64 * FRAME_SIZE);
                        }
                        continue;
                    }
                    w if w == !0 => {
                        run = 0;
                        f += 64;
                        continue;
                    }
                    _ => {}
                }
            }
            if self.bits[f / 64] & (1 << (f % 64)) == 0 {
                run += 1;
                if run == n {
                    let first = f + 1 - n;
                    for g in first..=f {
                        self.set(g, true);
                    }
                    return Some(first as u64 * FRAME_SIZE);
                }
            } else {
                run = 0;
            }
            f += 1;
        }
        None
    }

    pub fn free(&mut self, addr: u64) {
        assert!(addr % FRAME_SIZE == 0, "unaligned frame");
        let f = (addr / FRAME_SIZE) as usize;
        assert!(f < self.frames, "frame out of range");
        assert!(self.bits[f / 64] & (1 << (f % 64)) != 0, "double free of frame {:#x}", addr);
        self.set(f, false);
    }

    pub fn free_frames(&self) -> usize {
        self.free
    }
    pub fn total_frames(&self) -> usize {
        self.frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_only_freed_ranges_and_detects_double_free() {
        let mut bits = vec![0u64; 4];
        let mut a = FrameAllocator::new(&mut bits, 200);
        assert_eq!(a.alloc(), None);
        a.free_range(0x1800, 0x10000); // frames 2..16 (0x1800 rounds up)
        a.reserve_range(0x4000, 0x6000); // frames 4, 5
        assert_eq!(a.free_frames(), 12);
        let mut got = Vec::new();
        while let Some(f) = a.alloc() {
            got.push(f);
        }
        assert_eq!(got.len(), 12);
        assert!(!got.contains(&0x4000) && !got.contains(&0x5000) && !got.contains(&0x1000));
        a.free(got[3]);
        assert_eq!(a.alloc(), Some(got[3]));
        let r = std::panic::catch_unwind(move || {
            let mut bits = vec![0u64; 1];
            let mut a = FrameAllocator::new(&mut bits, 64);
            a.free_range(0, 64 * 4096);
            let f = a.alloc().unwrap();
            a.free(f);
            a.free(f);
        });
        assert!(r.is_err());
    }

    #[test]
    fn finds_contiguous_runs() {
        let mut bits = vec![0u64; 2];
        let mut a = FrameAllocator::new(&mut bits, 100);
        a.free_range(0, 100 * 4096);
        a.reserve_range(10 * 4096, 11 * 4096);
        assert_eq!(a.alloc_contiguous(20), Some(11 * 4096));
        assert_eq!(a.alloc_contiguous(10), Some(0));
        assert_eq!(a.alloc_contiguous(80), None);
        assert_eq!(a.free_frames(), 100 - 1 - 30);
    }

    #[test]
    fn respects_frame_count_at_the_end() {
        let mut bits = vec![0u64; 1];
        let mut a = FrameAllocator::new(&mut bits, 10);
        a.free_range(0, 1 << 30);
        assert_eq!(a.free_frames(), 10);
        for _ in 0..10 {
            assert!(a.alloc().unwrap() < 10 * 4096);
        }
        assert_eq!(a.alloc(), None);
    }
}
