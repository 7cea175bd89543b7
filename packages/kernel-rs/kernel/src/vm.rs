//! Virtual memory areas of a Linux process and demand paging. A process's memory is a sorted
//! list of areas, each with its protection; page-table entries exist only for pages that were
//! touched. A reservation (PROT_NONE, or any untouched range: the .NET GC reserves hundreds of
//! GiB) costs no frame. The page-fault handler maps a zeroed frame on first touch when the area
//! allows the access; munmap, madvise(DONTNEED) and shrinking brk give frames back at once. A
//! per-process frame limit (`mem=` on the module line) stops a process that touches more.
//!
//! PTE encoding: PROT_NONE pages that still hold data keep their frame with U=0 (present but
//! supervisor-only), so any user access faults and frame accounting stays exact.
use crate::memory::{self, PTE_ADDR, PTE_BORROWED, PTE_NX, PTE_P, PTE_U, PTE_W};
use kcore::frames::FRAME_SIZE;

pub const PROT_READ: u8 = 1;
pub const PROT_WRITE: u8 = 2;
pub const PROT_EXEC: u8 = 4;

/// Areas per process. mprotect splits areas; the .NET runtime stays well under this.
pub const MAX_VMAS: usize = 192;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Anon,
    Image,
    Stack,
    Heap,
    /// Pages of a TARS shared buffer: never freed by the process.
    Shm,
}

#[derive(Clone, Copy, Debug)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    pub prot: u8,
    pub kind: Kind,
}

const NO_VMA: Vma = Vma { start: 0, end: 0, prot: 0, kind: Kind::Anon };

/// Why a user access could not be satisfied.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fault {
    /// No area covers the address (SEGV_MAPERR).
    Unmapped,
    /// The area forbids the access (SEGV_ACCERR).
    Denied,
    /// The process is at its memory limit, or physical memory ran out.
    OutOfMemory,
}

/// A loadable segment of a boot image paged in on demand: where it runs, where its bytes are.
#[derive(Clone, Copy, Default)]
pub struct ImageSeg {
    pub start: u64,
    pub file_off: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub writable: bool,
}

pub const MAX_SEGS: usize = 8;

#[derive(Clone, Copy)]
pub struct Vm {
    /// The boot image the `Image` areas page in from (None: they were copied at load).
    pub image: Option<&'static [u8]>,
    pub segs: [ImageSeg; MAX_SEGS],
    pub nsegs: usize,
    pub pml4: u64,
    vmas: [Vma; MAX_VMAS],
    n: usize,
    pub brk_start: u64,
    pub brk: u64,
    /// Data frames mapped now (shared buffers not counted), and the most ever.
    pub frames: usize,
    pub peak_frames: usize,
    /// 0 = no limit.
    pub limit_frames: usize,
    /// Where the next top-down mmap search starts.
    pub mmap_top: u64,
    pub mmap_floor: u64,
    /// Where the image was placed relative to its link addresses (static-pie; 0 for ET_EXEC):
    /// fault reports carry it so the host can symbolize with the program's debug file.
    pub load_bias: u64,
}

pub const fn pte_flags(prot: u8) -> u64 {
    if prot & (PROT_READ | PROT_WRITE | PROT_EXEC) == 0 {
        // Present, supervisor-only: the frame stays, every user access faults.
        return PTE_P | PTE_NX;
    }
    let mut f = PTE_P | PTE_U;
    if prot & PROT_WRITE != 0 {
        f |= PTE_W;
    }
    if prot & PROT_EXEC == 0 {
        f |= PTE_NX;
    }
    f
}

impl Vm {
    pub fn new(pml4: u64, mmap_floor: u64, mmap_top: u64) -> Self {
        Vm { image: None, segs: [ImageSeg { start: 0, file_off: 0, filesz: 0, memsz: 0, writable: false }; MAX_SEGS], nsegs: 0, pml4, vmas: [NO_VMA; MAX_VMAS], n: 0, brk_start: 0, brk: 0, frames: 0, peak_frames: 0, limit_frames: 0, mmap_top, mmap_floor, load_bias: 0 }
    }

    pub fn areas(&self) -> &[Vma] {
        &self.vmas[..self.n]
    }

    pub fn find(&self, va: u64) -> Option<Vma> {
        self.areas().iter().find(|v| v.start <= va && va < v.end).copied()
    }

    /// Whether [start, end) touches no area.
    pub fn is_free(&self, start: u64, end: u64) -> bool {
        start >= memory::USER_BASE && end <= memory::USER_END && self.areas().iter().all(|v| v.end <= start || v.start >= end)
    }

    /// Add an area over a free range (callers unmap first). Adjacent areas of the same kind and
    /// protection merge, so repeated GC commits do not use up the table.
    pub fn insert(&mut self, v: Vma) -> Result<(), Fault> {
        let pos = self.vmas[..self.n].iter().position(|x| x.start >= v.end).unwrap_or(self.n);
        if pos > 0 {
            let p = &mut self.vmas[pos - 1];
            if p.end == v.start && p.prot == v.prot && p.kind == v.kind {
                p.end = v.end;
                self.merge_at(pos - 1);
                return Ok(());
            }
        }
        if pos < self.n {
            let nx = &mut self.vmas[pos];
            if nx.start == v.end && nx.prot == v.prot && nx.kind == v.kind {
                nx.start = v.start;
                return Ok(());
            }
        }
        if self.n == MAX_VMAS {
            return Err(Fault::OutOfMemory);
        }
        self.vmas.copy_within(pos..self.n, pos + 1);
        self.vmas[pos] = v;
        self.n += 1;
        Ok(())
    }

    fn merge_at(&mut self, i: usize) {
        if i + 1 < self.n {
            let (a, b) = (self.vmas[i], self.vmas[i + 1]);
            if a.end == b.start && a.prot == b.prot && a.kind == b.kind {
                self.vmas[i].end = b.end;
                self.vmas.copy_within(i + 2..self.n, i + 1);
                self.n -= 1;
            }
        }
    }

    fn remove_at(&mut self, i: usize) {
        self.vmas.copy_within(i + 1..self.n, i);
        self.n -= 1;
    }

    /// Cut the areas so that `at` is a boundary (no area straddles it).
    fn split_at(&mut self, at: u64) -> Result<(), Fault> {
        let Some(i) = self.vmas[..self.n].iter().position(|v| v.start < at && at < v.end) else { return Ok(()) };
        if self.n == MAX_VMAS {
            return Err(Fault::OutOfMemory);
        }
        let v = self.vmas[i];
        self.vmas.copy_within(i + 1..self.n, i + 2);
        self.vmas[i] = Vma { end: at, ..v };
        self.vmas[i + 1] = Vma { start: at, ..v };
        self.n += 1;
        Ok(())
    }

    /// Count `n` more frames held (and the most ever held).
    pub fn charge(&mut self, n: usize) {
        self.frames += n;
        self.peak_frames = self.peak_frames.max(self.frames);
    }

    /// Count `n` fewer (frames given back outside the page tables: /tmp's).
    pub fn uncharge(&mut self, n: usize) {
        self.frames = self.frames.saturating_sub(n);
    }

    /// Free the frames behind [start, end) (keeping the areas: the next touch gets zeroes).
    pub fn discard(&mut self, start: u64, end: u64) {
        let pml4 = self.pml4;
        let shm: [(u64, u64); 4] = {
            let mut s = [(0, 0); 4];
            for (k, v) in self.areas().iter().filter(|v| v.kind == Kind::Shm).take(4).enumerate() {
                s[k] = (v.start, v.end);
            }
            s
        };
        let mut freed = 0usize;
        memory::for_each_user_pte(pml4, start, end, &mut |va, e| {
            let frame = *e & PTE_ADDR;
            let borrowed = *e & PTE_BORROWED != 0;
            *e = 0;
            memory::flush_page(pml4, va);
            if !borrowed && !shm.iter().any(|&(s, t)| s <= va && va < t) {
                memory::frames().free(frame);
                freed += 1;
            }
        });
        self.frames -= freed.min(self.frames);
    }

    /// munmap: drop the areas and the frames of [start, end).
    pub fn unmap(&mut self, start: u64, end: u64) -> Result<(), Fault> {
        self.split_at(start)?;
        self.split_at(end)?;
        self.discard(start, end);
        let mut i = 0;
        while i < self.n {
            let v = self.vmas[i];
            if v.start >= start && v.end <= end {
                self.remove_at(i);
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    /// mprotect: every page of [start, end) must be in an area (else Unmapped, nothing changed).
    pub fn protect(&mut self, start: u64, end: u64, prot: u8) -> Result<(), Fault> {
        let mut covered = start;
        for v in self.areas() {
            if v.end <= covered || v.start >= end {
                continue;
            }
            if v.start > covered {
                return Err(Fault::Unmapped);
            }
            covered = v.end;
            if covered >= end {
                break;
            }
        }
        if covered < end {
            return Err(Fault::Unmapped);
        }
        self.split_at(start)?;
        self.split_at(end)?;
        for k in 0..self.n {
            let v = &mut self.vmas[k];
            if v.start >= start && v.end <= end {
                v.prot = prot;
            }
        }
        let pml4 = self.pml4;
        let flags = pte_flags(prot);
        let mut copied = 0usize;
        let mut failed = false;
        memory::for_each_user_pte(pml4, start, end, &mut |va, e| {
            if *e & PTE_BORROWED != 0 {
                if prot & PROT_WRITE == 0 {
                    *e = (*e & PTE_ADDR) | flags | PTE_BORROWED;
                    memory::flush_page(pml4, va);
                    return;
                }
                // Writable now: the page becomes the process's own copy (the image stays intact).
                let Some(f) = memory::frames().alloc() else {
                    failed = true;
                    return;
                };
                // SAFETY: two distinct frames, reachable through the kernel's map.
                unsafe { core::ptr::copy_nonoverlapping(memory::phys_ptr(*e & PTE_ADDR), memory::phys_ptr(f), FRAME_SIZE as usize) };
                *e = f | flags;
                copied += 1;
            } else {
                *e = (*e & PTE_ADDR) | flags;
            }
            memory::flush_page(pml4, va);
        });
        self.charge(copied);
        if failed {
            return Err(Fault::OutOfMemory);
        }
        // Merge neighbours that became alike.
        let mut i = 0;
        while i + 1 < self.n {
            let before = self.n;
            self.merge_at(i);
            if self.n == before {
                i += 1;
            }
        }
        Ok(())
    }

    /// A free range of `len` bytes for mmap without an address: the hint when it is free, else
    /// top-down from `mmap_top`.
    pub fn find_free(&self, hint: u64, len: u64) -> Option<u64> {
        if hint != 0 && hint % FRAME_SIZE == 0 && hint.checked_add(len).is_some_and(|e| self.is_free(hint, e)) {
            return Some(hint);
        }
        let mut top = self.mmap_top;
        loop {
            let start = top.checked_sub(len)?;
            if start < self.mmap_floor {
                return None;
            }
            // The highest area overlapping [start, top) pushes the candidate below it.
            match self.areas().iter().filter(|v| v.start < top && v.end > start).map(|v| v.start).min() {
                None => return Some(start),
                Some(s) => top = s,
            }
        }
    }

    /// Map a zeroed frame for a first touch of `va` with `access` (PROT_* bits).
    pub fn fault_in(&mut self, va: u64, access: u8) -> Result<u64, Fault> {
        let v = self.find(va).ok_or(Fault::Unmapped)?;
        if v.prot & access != access || v.prot == 0 {
            return Err(Fault::Denied);
        }
        let page = va & !(FRAME_SIZE - 1);
        let pte = memory::user_pte(self.pml4, page, true).ok_or(Fault::OutOfMemory)?;
        if *pte & PTE_P != 0 {
            // Present: the access itself is what the protection forbids (or another thread
            // raced us to it — then the retry succeeds).
            return if *pte & PTE_U != 0 && (access & PROT_WRITE == 0 || *pte & PTE_W != 0) { Ok(*pte & PTE_ADDR) } else { Err(Fault::Denied) };
        }
        if v.kind == Kind::Image {
            if let Some(f) = self.borrowable(page, v.prot) {
                // A read-only page wholly inside one segment's file bytes: map the image's own
                // frame, shared and never freed with the process.
                *pte = f | pte_flags(v.prot) | PTE_BORROWED;
                return Ok(f);
            }
        }
        if self.limit_frames != 0 && self.frames >= self.limit_frames {
            return Err(Fault::OutOfMemory);
        }
        let f = memory::alloc_zeroed().ok_or(Fault::OutOfMemory)?;
        if v.kind == Kind::Image {
            self.copy_image_bytes(page, f);
        }
        *pte = f | pte_flags(v.prot);
        self.charge(1);
        Ok(f)
    }

    /// The image frame to share for page `page`, when it is read-only and lies wholly inside the
    /// file bytes of exactly one segment (boot modules are page-aligned in memory).
    fn borrowable(&self, page: u64, prot: u8) -> Option<u64> {
        let image = self.image?;
        if prot & PROT_WRITE != 0 {
            return None;
        }
        let mut found: Option<&ImageSeg> = None;
        for s in &self.segs[..self.nsegs] {
            let (lo, hi) = (s.start & !(FRAME_SIZE - 1), s.start.saturating_add(s.memsz));
            if page < hi && page + FRAME_SIZE > lo {
                if found.is_some() {
                    return None; // shared by two segments: a copy holds both
                }
                found = Some(s);
            }
        }
        let s = found?;
        if s.writable || page + FRAME_SIZE > s.start + s.filesz {
            return None;
        }
        let off = s.file_off.checked_sub(s.start - page)? as usize;
        if off % FRAME_SIZE as usize != 0 || off + FRAME_SIZE as usize > image.len() {
            return None;
        }
        let pa = memory::virt_to_phys(image.as_ptr() as u64 + off as u64);
        (pa % FRAME_SIZE == 0).then_some(pa)
    }

    /// Fill a fresh frame for image page `page` with the file bytes of every segment in it.
    fn copy_image_bytes(&self, page: u64, frame: u64) {
        let Some(image) = self.image else { return };
        for s in &self.segs[..self.nsegs] {
            let lo = page.max(s.start);
            let hi = (page + FRAME_SIZE).min(s.start + s.filesz);
            if hi <= lo {
                continue;
            }
            let from = (s.file_off + (lo - s.start)) as usize;
            let n = (hi - lo) as usize;
            if from + n > image.len() {
                continue;
            }
            // SAFETY: `frame` is a fresh frame; the range stays inside it and inside the image.
            unsafe { core::ptr::copy_nonoverlapping(image[from..].as_ptr(), memory::phys_ptr(frame + (lo - page)), n) };
        }
    }

    /// The frame behind user page `va` for a kernel access on the process's behalf, faulting it
    /// in when the area allows (a buffer the program never touched is still a valid buffer).
    pub fn user_frame(&mut self, va: u64, write: bool) -> Result<u64, Fault> {
        if let Some(pte) = memory::user_pte(self.pml4, va & !(FRAME_SIZE - 1), false) {
            let e = *pte;
            if e & PTE_P != 0 && e & PTE_U != 0 && (!write || e & PTE_W != 0) {
                return Ok(e & PTE_ADDR);
            }
        }
        self.fault_in(va, if write { PROT_WRITE } else { PROT_READ })
    }

    pub fn copy_in(&mut self, va: u64, out: &mut [u8]) -> Result<(), Fault> {
        let mut done = 0;
        while done < out.len() {
            let a = va.checked_add(done as u64).ok_or(Fault::Unmapped)?;
            let f = self.user_frame(a, false)?;
            let n = ((FRAME_SIZE - (a & 0xFFF)) as usize).min(out.len() - done);
            // SAFETY: `f` is a mapped frame of this process; n stays inside it.
            unsafe { core::ptr::copy_nonoverlapping(memory::phys_ptr(f + (a & 0xFFF)), out[done..].as_mut_ptr(), n) };
            done += n;
        }
        Ok(())
    }

    pub fn copy_out(&mut self, va: u64, data: &[u8]) -> Result<(), Fault> {
        let mut done = 0;
        while done < data.len() {
            let a = va.checked_add(done as u64).ok_or(Fault::Unmapped)?;
            let f = self.user_frame(a, true)?;
            let n = ((FRAME_SIZE - (a & 0xFFF)) as usize).min(data.len() - done);
            // SAFETY: as in copy_in, writable.
            unsafe { core::ptr::copy_nonoverlapping(data[done..].as_ptr(), memory::phys_ptr(f + (a & 0xFFF)), n) };
            done += n;
        }
        Ok(())
    }

    pub fn read_u32(&mut self, va: u64) -> Result<u32, Fault> {
        let mut b = [0u8; 4];
        self.copy_in(va, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    pub fn read_u64(&mut self, va: u64) -> Result<u64, Fault> {
        let mut b = [0u8; 8];
        self.copy_in(va, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    pub fn write_u64(&mut self, va: u64, v: u64) -> Result<(), Fault> {
        self.copy_out(va, &v.to_le_bytes())
    }

    pub fn write_u32(&mut self, va: u64, v: u32) -> Result<(), Fault> {
        self.copy_out(va, &v.to_le_bytes())
    }

    /// Map an already-allocated frame (loader, shared buffers). Counted unless `Shm`.
    pub fn map_frame(&mut self, va: u64, frame: u64, prot: u8, counted: bool) -> Result<(), Fault> {
        let pte = memory::user_pte(self.pml4, va, true).ok_or(Fault::OutOfMemory)?;
        *pte = frame | pte_flags(prot);
        memory::flush_page(self.pml4, va);
        if counted {
            self.charge(1);
        }
        Ok(())
    }
}
