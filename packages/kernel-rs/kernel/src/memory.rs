//! Physical memory and paging. boot.rs identity-maps the first GiB RWX with 2 MiB pages to get
//! into long mode; `protect_kernel` then builds the kernel's map and switches to it:
//! - every RAM range the memory map reports (above 1 GiB and 4 GiB too, up to `MAX_PHYS`) at
//!   `PHYS_OFFSET` in the upper half, 2 MiB pages, writable, never executable: the kernel reaches
//!   any frame there (`phys_ptr`), page tables and user memory included;
//! - the kernel image, identity-mapped where it is linked, in [0, 4 MiB) with 4 KiB pages and
//!   W^X (text read-only executable, rodata read-only, the rest writable NX, page 0 absent).
//! Both are supervisor-only, so with SMEP/SMAP the kernel neither runs nor touches user pages
//! through user addresses. Each task has its own PML4: the upper half is the kernel's, and the
//! whole lower half above 4 MiB — [4 MiB, 128 TiB) — is its user window, mapped with 4 KiB pages
//! (so a non-PIE `gcc -static` program linked at 0x400000 loads where it is linked).
use kcore::frames::{FrameAllocator, FRAME_SIZE};

/// Where all of RAM appears in the kernel's half of every address space.
pub const PHYS_OFFSET: u64 = 0xFFFF_8000_0000_0000;
/// RAM the frame allocator manages (and the direct map covers): 32 GiB.
pub const MAX_PHYS: u64 = 32 << 30;
/// The kernel image must end below this (its identity map); user space starts here.
pub const KERNEL_LOW_END: u64 = 4 << 20;
pub const USER_BASE: u64 = KERNEL_LOW_END;
pub const USER_END: u64 = 0x8000_0000_0000;
/// A TARS agent's stack ends at the top of the GiB its image is linked at (0x80_0000_0000): one
/// page directory serves both, a frame less per agent than a stack in a GiB of its own.
pub const USER_STACK_TOP: u64 = 0x80_4000_0000;
pub const USER_STACK_PAGES: u64 = 8;
pub const SHM_BASE: u64 = 0xC0_0000_0000;

const P: u64 = 1;
const W: u64 = 2;
const U: u64 = 4;
const NX: u64 = 1 << 63;
const ADDR: u64 = 0x000F_FFFF_FFFF_F000;

static mut BITMAP: [u64; (MAX_PHYS / FRAME_SIZE / 64) as usize] = [0; (MAX_PHYS / FRAME_SIZE / 64) as usize];
/// The offset `phys_ptr` adds: 0 while boot.rs's identity map is live, PHYS_OFFSET after.
static mut DIRECT: u64 = 0;
/// RAM ranges from the memory map (what the direct map covers).
static mut RAM_RANGES: [(u64, u64); 32] = [(0, 0); 32];
static mut RAM_RANGE_COUNT: usize = 0;
static mut FRAMES: Option<FrameAllocator<'static>> = None;
static RAM_FRAMES: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Frames of RAM (up to MAX_PHYS) that the memory map reported usable.
pub fn ram_frames() -> usize {
    RAM_FRAMES.load(core::sync::atomic::Ordering::Relaxed)
}

extern "C" {
    static __kernel_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __kernel_end: u8;
    static boot_pml4: [u64; 512];
}

const PS: u64 = 1 << 7;
/// Global: the kernel's own mappings (the same in every address space) survive the CR3 load of
/// a task switch once CR4.PGE is on. User pages never carry it.
const G: u64 = 1 << 8;

/// Build the kernel's map (the direct map of RAM, the W^X identity map of the kernel image) and
/// switch to it; from here on physical memory is reached at PHYS_OFFSET. Every address space
/// created afterwards shares both (`new_address_space`).
pub fn protect_kernel() {
    let (ks, ke) = kernel_range();
    assert!(ke <= KERNEL_LOW_END, "the kernel image ends at {:#x}, past its 4 MiB identity map", ke);
    // SAFETY: the boot page table is live; boot code and data stay mapped at every step (the
    // upper half is added first, the identity map of the image replaced last).
    unsafe {
        let pml4 = core::ptr::addr_of!(boot_pml4) as *mut [u64; 512];
        // 1. The direct map: 2 MiB pages over each RAM range, NX.
        let pdpt = alloc_zeroed().expect("no frame for the kernel page tables");
        for &(s, e) in (*core::ptr::addr_of!(RAM_RANGES)).iter().take(RAM_RANGE_COUNT) {
            let mut a = s & !((2 << 20) - 1);
            while a < e.min(MAX_PHYS) {
                let gi = (a >> 30) as usize;
                if table(pdpt)[gi] & P == 0 {
                    table(pdpt)[gi] = alloc_zeroed().expect("no frame for the kernel page tables") | P | W;
                }
                let pd = table(pdpt)[gi] & ADDR;
                table(pd)[((a >> 21) & 511) as usize] = a | P | W | PS | NX | G;
                a += 2 << 20;
            }
        }
        (*pml4)[256] = pdpt | P | W;
        load_cr3(kernel_pml4());
        *core::ptr::addr_of_mut!(DIRECT) = PHYS_OFFSET;
        // 2. The kernel image, identity-mapped W^X in [0, 4 MiB); page 0 absent.
        let (text_end, ro_end) = text_rodata_end();
        let pd = alloc_zeroed().expect("no frame for the kernel page tables");
        for r in 0..(KERNEL_LOW_END >> 21) {
            let pt = alloc_zeroed().expect("no frame for the kernel page tables");
            for p in 0..512u64 {
                let a = (r << 21) + (p << 12);
                table(pt)[p as usize] = if a == 0 {
                    0
                } else if (ks..text_end).contains(&a) {
                    a | P | G
                } else if (text_end..ro_end).contains(&a) {
                    a | P | NX | G
                } else {
                    a | P | W | NX | G
                };
            }
            table(pd)[r as usize] = pt | P | W;
        }
        let low = alloc_zeroed().expect("no frame for the kernel page tables");
        table(low)[0] = pd | P | W;
        (*pml4)[0] = low | P | W;
        load_cr3(kernel_pml4());
        // 3. Global pages on (every x86-64 CPU has PGE): the kernel half stays in the TLB across
        // task switches.
        crate::cpu::cr4_set(1 << 7);
    }
}

const PWT: u64 = 1 << 3;
const PCD: u64 = 1 << 4;

/// Map the 4 KiB device page at physical `pa` (the local APIC, the I/O APIC) uncached into the
/// kernel's upper half at PHYS_OFFSET + pa, which every address space shares; returns that
/// address. None past the direct map's reach, on a page that is RAM, or out of frames.
pub fn map_mmio(pa: u64) -> Option<u64> {
    let pa = pa & ADDR;
    if pa >= MAX_PHYS {
        return None;
    }
    let pdpt = table(kernel_pml4())[256];
    if pdpt & P == 0 {
        return None;
    }
    let pdpt = table(pdpt & ADDR);
    let gi = ((pa >> 30) & 511) as usize;
    if pdpt[gi] & P == 0 {
        pdpt[gi] = alloc_zeroed()? | P | W;
    }
    let pd = table(pdpt[gi] & ADDR);
    let di = ((pa >> 21) & 511) as usize;
    if pd[di] & P != 0 && pd[di] & PS != 0 {
        return None;
    }
    if pd[di] & P == 0 {
        pd[di] = alloc_zeroed()? | P | W;
    }
    table(pd[di] & ADDR)[((pa >> 12) & 511) as usize] = pa | P | W | NX | PCD | PWT | G;
    let va = PHYS_OFFSET + pa;
    // SAFETY: drops any stale translation of the page just mapped.
    unsafe { core::arch::asm!("invlpg [{}]", in(reg) va, options(nostack, preserves_flags)) };
    Some(va)
}

pub fn frames() -> &'static mut FrameAllocator<'static> {
    // SAFETY: single CPU; called only from kernel context with interrupts disabled, after init.
    unsafe { (*core::ptr::addr_of_mut!(FRAMES)).as_mut().expect("frame allocator not initialised") }
}

pub fn kernel_range() -> (u64, u64) {
    // SAFETY: linker symbols; only their addresses are used.
    unsafe { (&__kernel_start as *const u8 as u64, &__kernel_end as *const u8 as u64) }
}

pub fn kernel_pml4() -> u64 {
    // SAFETY: address of the boot page table.
    unsafe { boot_pml4.as_ptr() as u64 }
}

/// Build the frame allocator from the boot memory map, reserving the kernel, low memory and
/// `reserved` ranges (boot modules, multiboot structures).
pub fn init(ram: impl Fn(&mut dyn FnMut(u64, u64)), reserved: &[(u64, u64)]) {
    // SAFETY: runs once at boot before any allocation.
    unsafe {
        // Only as many frames as RAM reaches (setting up the whole 32 GiB bitmap costs 260 k
        // instructions of boot time).
        let mut top = 0u64;
        ram(&mut |_, e| top = top.max(e.min(MAX_PHYS)));
        let frames = top.div_ceil(FRAME_SIZE).div_ceil(64) as usize * 64;
        let all: &'static mut [u64; (MAX_PHYS / FRAME_SIZE / 64) as usize] = &mut *core::ptr::addr_of_mut!(BITMAP);
        let bits: &'static mut [u64] = &mut all[..frames / 64];
        let mut fa = FrameAllocator::new(bits, frames);
        ram(&mut |s, e| {
            fa.free_range(s, e.min(MAX_PHYS));
            let n = *core::ptr::addr_of!(RAM_RANGE_COUNT);
            if n < 32 && s < MAX_PHYS {
                (*core::ptr::addr_of_mut!(RAM_RANGES))[n] = (s, e.min(MAX_PHYS));
                *core::ptr::addr_of_mut!(RAM_RANGE_COUNT) = n + 1;
            }
        });
        RAM_FRAMES.store(fa.free_frames(), core::sync::atomic::Ordering::Relaxed);
        fa.reserve_range(0, 0x100000);
        let (ks, ke) = kernel_range();
        fa.reserve_range(ks, ke);
        for &(s, e) in reserved {
            fa.reserve_range(s, e);
        }
        *core::ptr::addr_of_mut!(FRAMES) = Some(fa);
    }
}

fn table(phys: u64) -> &'static mut [u64; 512] {
    // SAFETY: page-table frames are RAM, reachable through the kernel's map, owned by the paging code.
    unsafe { &mut *(phys_ptr(phys) as *mut [u64; 512]) }
}

pub fn alloc_zeroed() -> Option<u64> {
    let f = frames().alloc()?;
    // SAFETY: a fresh frame of RAM, reachable through the kernel's map.
    unsafe { core::ptr::write_bytes(phys_ptr(f), 0, FRAME_SIZE as usize) };
    Some(f)
}

/// A new address space: the kernel's upper half and its image's page tables shared, the user
/// window [4 MiB, 128 TiB) empty. Slot 0 has a table of its own down to the page directory of
/// the first GiB, whose first two entries (the kernel image's 4 KiB tables) are the kernel's.
pub fn new_address_space() -> Option<u64> {
    let pml4 = alloc_zeroed()?;
    let pdpt = alloc_zeroed();
    let pd = alloc_zeroed();
    let (Some(pdpt), Some(pd)) = (pdpt, pd) else {
        for f in [Some(pml4), pdpt, pd].into_iter().flatten() {
            frames().free(f);
        }
        return None;
    };
    let kpd = table(table(kernel_pml4())[0] & ADDR)[0] & ADDR;
    for r in 0..(KERNEL_LOW_END >> 21) as usize {
        table(pd)[r] = table(kpd)[r];
    }
    table(pdpt)[0] = pd | P | W | U;
    table(pml4)[0] = pdpt | P | W | U;
    for slot in 256..512 {
        table(pml4)[slot] = table(kernel_pml4())[slot];
    }
    Some(pml4)
}

/// The kernel map's leaf entry for `vaddr` (PS set for a 2 MiB page); None when not present.
pub fn kernel_leaf(vaddr: u64) -> Option<u64> {
    let mut t = kernel_pml4();
    for (level, shift) in [39u64, 30, 21, 12].into_iter().enumerate() {
        let e = table(t)[((vaddr >> shift) & 511) as usize];
        if e & P == 0 {
            return None;
        }
        if level == 3 || (level == 2 && e & PS != 0) {
            return Some(e);
        }
        t = e & ADDR;
    }
    None
}

/// Where the kernel's text and rodata end (linker symbols).
pub fn text_rodata_end() -> (u64, u64) {
    // SAFETY: linker symbols; only their addresses are used.
    unsafe { (&__text_end as *const u8 as u64, &__rodata_end as *const u8 as u64) }
}

/// Map one 4 KiB user page.
pub fn map_user(pml4: u64, vaddr: u64, phys: u64, writable: bool, exec: bool) -> Option<()> {
    let leaf = user_pte(pml4, vaddr, true)?;
    *leaf = phys | P | U | if writable { W } else { 0 } | if exec { 0 } else { NX };
    Some(())
}

/// Map one 4 KiB page of a device's registers into a user window: writable, uncached (PCD,
/// PWT), not executable, and borrowed (the frame is the device's, never freed with the window).
pub fn map_user_mmio(pml4: u64, vaddr: u64, phys: u64) -> Option<()> {
    let leaf = user_pte(pml4, vaddr, true)?;
    *leaf = phys | P | U | W | NX | (1 << 4) | (1 << 3) | PTE_BORROWED;
    Some(())
}

/// Map one 4 KiB page of memory shared with the host through a device (the GPU region, an
/// ivshmem BAR: RAM on the host side, prefetchable): cached, not executable, borrowed (never freed
/// with the window), writable or not.
pub fn map_user_shared(pml4: u64, vaddr: u64, phys: u64, writable: bool) -> Option<()> {
    let leaf = user_pte(pml4, vaddr, true)?;
    *leaf = phys | P | U | NX | PTE_BORROWED | if writable { W } else { 0 };
    Some(())
}

/// Physical address behind a user virtual address, if mapped user-accessible.
pub fn translate_user(pml4: u64, vaddr: u64) -> Option<u64> {
    walk_user(pml4, vaddr).map(|(pa, _)| pa)
}

/// (physical address, writable) for a user-accessible page.
fn walk_user(pml4: u64, vaddr: u64) -> Option<(u64, bool)> {
    if !(USER_BASE..USER_END).contains(&vaddr) {
        return None;
    }
    let idx = [(vaddr >> 39) & 511, (vaddr >> 30) & 511, (vaddr >> 21) & 511, (vaddr >> 12) & 511];
    let mut t = pml4;
    for (k, i) in idx.iter().enumerate() {
        let e = table(t)[*i as usize];
        if e & P == 0 || e & U == 0 {
            return None;
        }
        if k == 3 {
            return Some(((e & ADDR) | (vaddr & 0xFFF), e & W != 0));
        }
        t = e & ADDR;
    }
    None
}

/// Copy bytes out of a user address space (page by page, checked).
pub fn copy_from_user(pml4: u64, vaddr: u64, out: &mut [u8]) -> Option<()> {
    let mut done = 0;
    while done < out.len() {
        let va = vaddr.checked_add(done as u64)?;
        let pa = translate_user(pml4, va)?;
        let n = ((FRAME_SIZE - (va & 0xFFF)) as usize).min(out.len() - done);
        // SAFETY: `pa..pa+n` is inside one mapped frame, reachable through the kernel's map.
        unsafe { core::ptr::copy_nonoverlapping(phys_ptr(pa), out[done..].as_mut_ptr(), n) };
        done += n;
    }
    Some(())
}

/// Copy bytes into a user address space (page by page, checked; pages must be user-mapped).
pub fn copy_to_user(pml4: u64, vaddr: u64, data: &[u8]) -> Option<()> {
    let mut done = 0;
    while done < data.len() {
        let va = vaddr.checked_add(done as u64)?;
        let (pa, writable) = walk_user(pml4, va)?;
        if !writable {
            return None;
        }
        let n = ((FRAME_SIZE - (va & 0xFFF)) as usize).min(data.len() - done);
        // SAFETY: `pa..pa+n` is inside one mapped frame, reachable through the kernel's map.
        unsafe { core::ptr::copy_nonoverlapping(data[done..].as_ptr(), phys_ptr(pa), n) };
        done += n;
    }
    Some(())
}

/// Free every frame of a user window and the page tables themselves (not the kernel's shared
/// tables, not borrowed frames, not frames listed in `keep`, e.g. shared-memory pages).
pub fn free_address_space(pml4: u64, keep: &dyn Fn(u64) -> bool) {
    for slot in 0..256usize {
        let e1 = table(pml4)[slot];
        if e1 & P == 0 {
            continue;
        }
        let pdpt = e1 & ADDR;
        for (gi, &e2) in table(pdpt).iter().enumerate() {
            if e2 & P == 0 {
                continue;
            }
            let pd = e2 & ADDR;
            for (ri, &e3) in table(pd).iter().enumerate() {
                // The kernel image's page tables are shared by every address space.
                if e3 & P == 0 || (slot == 0 && gi == 0 && (ri as u64) < (KERNEL_LOW_END >> 21)) {
                    continue;
                }
                let pt = e3 & ADDR;
                for &e4 in table(pt).iter() {
                    // Borrowed frames (a boot module's read-only pages) belong to the image.
                    if e4 & P != 0 && e4 & PTE_BORROWED == 0 && !keep(e4 & ADDR) {
                        frames().free(e4 & ADDR);
                    }
                }
                frames().free(pt);
            }
            frames().free(pd);
        }
        frames().free(pdpt);
    }
    frames().free(pml4);
}

pub fn load_cr3(pml4: u64) {
    // SAFETY: `pml4` is a valid top-level table that maps the kernel identically.
    unsafe { core::arch::asm!("mov cr3, {}", in(reg) pml4, options(nostack, preserves_flags)) }
}

pub fn read_cr2() -> u64 {
    let v: u64;
    // SAFETY: reading CR2 has no side effects.
    unsafe { core::arch::asm!("mov {}, cr2", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Page-table entry bits, for the user-memory code (vm.rs).
pub const PTE_P: u64 = P;
pub const PTE_W: u64 = W;
pub const PTE_U: u64 = U;
pub const PTE_NX: u64 = NX;
pub const PTE_ADDR: u64 = ADDR;
/// Software bit (ignored by the MMU): the frame is borrowed from a boot module's image, shared
/// read-only, never freed with the address space.
pub const PTE_BORROWED: u64 = 1 << 9;
/// Software bit: a sandbox's page shared copy-on-write with a snapshot (mapped read-only and
/// borrowed; the first write copies it: `sandbox::on_fault`).
pub const PTE_COW: u64 = 1 << 10;

/// The physical address of a kernel pointer into RAM (boot-module bytes, heap): direct-map
/// addresses lose the offset, the identity-mapped kernel image is where it is.
#[inline]
pub fn virt_to_phys(v: u64) -> u64 {
    if v >= PHYS_OFFSET {
        v - PHYS_OFFSET
    } else {
        v
    }
}

/// A pointer to physical address `pa` in the kernel's map of RAM.
#[inline]
pub fn phys_ptr(pa: u64) -> *mut u8 {
    // SAFETY: a plain read of a word written once, at boot, on the only CPU.
    (pa + unsafe { *core::ptr::addr_of!(DIRECT) }) as *mut u8
}

/// The leaf entry of user address `vaddr` in `pml4` through present, user-accessible tables (the
/// leaf itself unchecked: the caller tests its bits) — the hot paths' walk (a sandbox call's
/// copies), unrolled: three loads and tests, no allocation path.
#[inline(always)]
pub fn user_leaf(pml4: u64, vaddr: u64) -> Option<&'static mut u64> {
    if !(USER_BASE..USER_END).contains(&vaddr) {
        return None;
    }
    let mut t = pml4;
    for shift in [39u32, 30, 21] {
        let e = table(t)[((vaddr >> shift) & 511) as usize];
        if e & (P | U) != P | U {
            return None;
        }
        t = e & ADDR;
    }
    Some(&mut table(t)[((vaddr >> 12) & 511) as usize])
}

/// The leaf entry slot of user address `vaddr` in `pml4`; with `create`, missing intermediate
/// tables are allocated (None when out of frames or outside the user window).
pub fn user_pte(pml4: u64, vaddr: u64, create: bool) -> Option<&'static mut u64> {
    if !(USER_BASE..USER_END).contains(&vaddr) {
        return None;
    }
    let idx = [(vaddr >> 39) & 511, (vaddr >> 30) & 511, (vaddr >> 21) & 511];
    let mut t = pml4;
    for i in idx {
        let e = &mut table(t)[i as usize];
        if *e & P == 0 {
            if !create {
                return None;
            }
            *e = alloc_zeroed()? | P | W | U;
        }
        t = *e & ADDR;
    }
    Some(&mut table(t)[((vaddr >> 12) & 511) as usize])
}

/// Visit every present leaf entry of `pml4` in [start, end) (page-aligned), skipping absent
/// tables wholesale: a 256 GiB reservation with three touched pages costs three visits.
pub fn for_each_user_pte(pml4: u64, start: u64, end: u64, f: &mut dyn FnMut(u64, &mut u64)) {
    let (start, end) = (start.max(USER_BASE), end.min(USER_END));
    let mut va = start;
    while va < end {
        let mut t = pml4;
        let mut skip = 0u64;
        for shift in [39u64, 30, 21] {
            let e = table(t)[((va >> shift) & 511) as usize];
            if e & P == 0 {
                skip = 1 << shift;
                break;
            }
            t = e & ADDR;
        }
        if skip != 0 {
            va = (va & !(skip - 1)) + skip;
            continue;
        }
        let e = &mut table(t)[((va >> 12) & 511) as usize];
        if *e & P != 0 {
            f(va, e);
        }
        va += FRAME_SIZE;
    }
}

pub fn read_cr3() -> u64 {
    let v: u64;
    // SAFETY: reading CR3 has no side effects.
    unsafe { core::arch::asm!("mov {}, cr3", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Drop the TLB entry of `vaddr` when `pml4` is the live address space (a switch reloads CR3,
/// which flushes everything else: no PCIDs).
pub fn flush_page(pml4: u64, vaddr: u64) {
    if read_cr3() & ADDR == pml4 {
        // SAFETY: invlpg only drops a translation.
        unsafe { core::arch::asm!("invlpg [{}]", in(reg) vaddr, options(nostack, preserves_flags)) };
    }
}
