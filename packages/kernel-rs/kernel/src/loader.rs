//! The Linux loader: a static x86-64 executable (ET_EXEC inside the user window, or static-pie
//! ET_DYN placed at `PIE_BASE`) becomes a fresh address space with its areas, and the initial
//! stack the System V ABI specifies: argc, argv, envp, auxv (AT_PHDR, AT_PHENT, AT_PHNUM,
//! AT_PAGESZ, AT_ENTRY, AT_RANDOM, AT_HWCAP, …) and the strings they point at. Pages holding
//! file data are copied now; bss, heap, stack and mmap areas are filled on first touch.
use crate::gdt::{USER_CS, USER_DS};
use crate::idt::TrapFrame;
use crate::memory::{self, USER_BASE, USER_END};
use crate::task::LoadError;
use crate::vm::{Kind, Vm, Vma, PROT_EXEC, PROT_READ, PROT_WRITE};
use kcore::elf::Elf;
use kcore::frames::FRAME_SIZE;

/// Where a static-pie image is placed.
pub const PIE_BASE: u64 = USER_BASE + 0x4000_0000;
/// Top of the main thread's stack (one guard page below the window's end), and its size.
pub const STACK_TOP: u64 = USER_END - FRAME_SIZE;
pub const STACK_SIZE: u64 = 8 << 20;
/// mmap searches top-down from below the stack; brk may grow up to this far above the image.
const MMAP_GAP: u64 = 256 << 20;
const BRK_ROOM: u64 = 16 << 30;

const AT_NULL: u64 = 0;
const AT_PHDR: u64 = 3;
const AT_PHENT: u64 = 4;
const AT_PHNUM: u64 = 5;
const AT_PAGESZ: u64 = 6;
const AT_BASE: u64 = 7;
const AT_FLAGS: u64 = 8;
const AT_ENTRY: u64 = 9;
const AT_UID: u64 = 11;
const AT_EUID: u64 = 12;
const AT_GID: u64 = 13;
const AT_EGID: u64 = 14;
const AT_PLATFORM: u64 = 15;
const AT_HWCAP: u64 = 16;
const AT_CLKTCK: u64 = 17;
const AT_SECURE: u64 = 23;
const AT_RANDOM: u64 = 25;
const AT_HWCAP2: u64 = 26;
const AT_EXECFN: u64 = 31;
const AT_MINSIGSTKSZ: u64 = 51;

/// The signal frame needs at most this much (see signal.rs); programs size alternate stacks by it.
pub const MIN_SIGSTKSZ: u64 = 2048;

pub struct Start<'a> {
    /// A boot module's image (it stays in memory): segments are paged in on first touch,
    /// read-only pages shared with it. None: copied now (a hot-swap's image goes away).
    pub boot_image: Option<&'static [u8]>,
    pub argv0: &'a str,
    /// The module line's `argv=` value: arguments joined by `+`, `%XX` escaping a byte (`%2B`
    /// a plus, `%20` a space, `%25` a percent). Empty: argv = [argv0].
    pub argv: &'a str,
    /// Environment strings, NUL-separated.
    pub env: &'a [u8],
    pub limit_frames: usize,
    pub random: [u8; 16],
}

/// Build the address space of `image`; returns its areas and the entry frame.
pub fn load(image: &[u8], start: &Start) -> Result<(Vm, TrapFrame), LoadError> {
    let (elf, info) = Elf::parse_linux(image, (USER_BASE, USER_END)).map_err(LoadError::Elf)?;
    let pml4 = memory::new_address_space().ok_or(LoadError::OutOfMemory)?;
    let bias = if info.pie { PIE_BASE - info.lo } else { 0 };
    let mut vm = Vm::new(pml4, (info.hi + bias).max(PIE_BASE) + BRK_ROOM, STACK_TOP - STACK_SIZE - MMAP_GAP);
    match populate(&elf, &mut vm, bias, start) {
        Ok(mut frame) => {
            vm.load_bias = bias;
            vm.brk_start = info.hi + bias;
            vm.brk = vm.brk_start;
            let sp = initial_stack(&mut vm, start, &info, bias + elf.entry, bias).map_err(|_| LoadError::OutOfMemory);
            match sp {
                Ok(sp) => {
                    frame.rsp = sp;
                    frame.rip = bias + elf.entry;
                    vm.limit_frames = start.limit_frames;
                    Ok((vm, frame))
                }
                Err(e) => {
                    memory::free_address_space(pml4, &|_| false);
                    Err(e)
                }
            }
        }
        Err(e) => {
            memory::free_address_space(pml4, &|_| false);
            Err(e)
        }
    }
}

fn populate(elf: &Elf, vm: &mut Vm, bias: u64, start: &Start) -> Result<TrapFrame, LoadError> {
    if let Some(image) = start.boot_image {
        lazy_segments(elf, vm, bias, image)?;
        vm.insert(Vma { start: STACK_TOP - STACK_SIZE, end: STACK_TOP, prot: PROT_READ | PROT_WRITE, kind: Kind::Stack }).map_err(|_| LoadError::OutOfMemory)?;
        return Ok(TrapFrame { cs: USER_CS as u64, ss: USER_DS as u64, rflags: 0x202, ..TrapFrame::default() });
    }
    for seg in elf.segments() {
        let data = elf.segment_data(&seg);
        let (vs, ve) = (seg.vaddr + bias, seg.vaddr + bias + seg.memsz);
        let (first, last) = (vs & !(FRAME_SIZE - 1), (ve + FRAME_SIZE - 1) & !(FRAME_SIZE - 1));
        let prot = PROT_READ | if seg.writable { PROT_WRITE } else { 0 } | if seg.executable { PROT_EXEC } else { 0 };
        // A page shared with the previous segment keeps its area; this one starts after it.
        let area_start = vm.areas().iter().filter(|a| a.end > first && a.start < last).map(|a| a.end).max().unwrap_or(first);
        if area_start < last {
            vm.insert(Vma { start: area_start, end: last, prot, kind: Kind::Image }).map_err(|_| LoadError::OutOfMemory)?;
        }
        // Copy the pages that hold file bytes; the rest of the bss is zero on first touch.
        let file_end = vs + seg.filesz;
        let mut page = first;
        while page < last && page < file_end {
            let shared = memory::user_pte(vm.pml4, page, false).filter(|e| **e & memory::PTE_P != 0);
            let frame = match shared {
                Some(e) => {
                    // A page shared with the previous segment allows what both need.
                    if seg.writable {
                        *e |= memory::PTE_W;
                    }
                    if seg.executable {
                        *e &= !memory::PTE_NX;
                    }
                    *e & memory::PTE_ADDR
                }
                None => {
                    if start.limit_frames != 0 && vm.frames >= start.limit_frames {
                        return Err(LoadError::OutOfMemory);
                    }
                    let f = memory::alloc_zeroed().ok_or(LoadError::OutOfMemory)?;
                    if vm.map_frame(page, f, prot, true).is_err() {
                        memory::frames().free(f);
                        return Err(LoadError::OutOfMemory);
                    }
                    f
                }
            };
            let lo = page.max(vs);
            let hi = (page + FRAME_SIZE).min(file_end);
            if hi > lo {
                let src = &data[(lo - vs) as usize..(hi - vs) as usize];
                // SAFETY: `frame` is a frame of this new address space, reachable through the kernel's map.
                unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), memory::phys_ptr(frame + (lo - page)), src.len()) };
            }
            page += FRAME_SIZE;
        }
    }
    vm.insert(Vma { start: STACK_TOP - STACK_SIZE, end: STACK_TOP, prot: PROT_READ | PROT_WRITE, kind: Kind::Stack }).map_err(|_| LoadError::OutOfMemory)?;
    Ok(TrapFrame { cs: USER_CS as u64, ss: USER_DS as u64, rflags: 0x202, ..TrapFrame::default() })
}

/// Areas for the segments of a boot image, paged in on demand from it (vm.rs). A page two
/// segments share gets its own area with both protections.
fn lazy_segments(elf: &Elf, vm: &mut Vm, bias: u64, image: &'static [u8]) -> Result<(), LoadError> {
    let mut prev: Option<(u64, u8)> = None; // (last page end, prot) of the previous segment
    for seg in elf.segments() {
        if vm.nsegs == crate::vm::MAX_SEGS {
            return Err(LoadError::Elf(kcore::elf::ElfError::BadProgramHeaders));
        }
        let (vs, ve) = (seg.vaddr + bias, seg.vaddr + bias + seg.memsz);
        let (mut first, last) = (vs & !(FRAME_SIZE - 1), (ve + FRAME_SIZE - 1) & !(FRAME_SIZE - 1));
        let prot = PROT_READ | if seg.writable { PROT_WRITE } else { 0 } | if seg.executable { PROT_EXEC } else { 0 };
        vm.segs[vm.nsegs] = crate::vm::ImageSeg { start: vs, file_off: seg.offset, filesz: seg.filesz, memsz: seg.memsz, writable: seg.writable };
        vm.nsegs += 1;
        if let Some((pend, pprot)) = prev {
            if first < pend {
                // The shared page: cut it from the previous area, give it both protections.
                vm.unmap(first, pend).map_err(|_| LoadError::OutOfMemory)?;
                vm.insert(Vma { start: first, end: pend, prot: prot | pprot, kind: Kind::Image }).map_err(|_| LoadError::OutOfMemory)?;
                first = pend;
            }
        }
        if first < last {
            vm.insert(Vma { start: first, end: last, prot, kind: Kind::Image }).map_err(|_| LoadError::OutOfMemory)?;
        }
        prev = Some((last, prot));
    }
    vm.image = Some(image);
    Ok(())
}

/// Arguments (`argv=`) and environment strings a process starts with at most; all their bytes
/// share one 2 KiB area.
const MAX_ARGS: usize = 32;
const MAX_ENV: usize = 32;
const TABLE: usize = 1 + MAX_ARGS + 1 + MAX_ENV + 1 + 40;

/// Decode one `argv=` word: `%XX` is the byte XX (hex); anything else is itself. Returns the length.
fn unescape(word: &[u8], out: &mut [u8; 256]) -> usize {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let (mut r, mut n) = (0, 0);
    while r < word.len() && n < out.len() {
        match (word[r], word.get(r + 1).and_then(|&c| hex(c)), word.get(r + 2).and_then(|&c| hex(c))) {
            (b'%', Some(h), Some(l)) => {
                out[n] = h << 4 | l;
                r += 3;
            }
            (c, _, _) => {
                out[n] = c;
                r += 1;
            }
        }
        n += 1;
    }
    n
}

/// Lay out argc/argv/envp/auxv and their strings below STACK_TOP; returns the initial rsp.
fn initial_stack(vm: &mut Vm, start: &Start, info: &kcore::elf::LinuxInfo, entry: u64, bias: u64) -> Result<u64, crate::vm::Fault> {
    let mut strings = [0u8; 2048];
    let mut len = 0usize;
    let mut put = |bytes: &[u8], nul: bool| -> usize {
        let at = len;
        let n = bytes.len().min(strings.len().saturating_sub(len + 1));
        strings[len..len + n].copy_from_slice(&bytes[..n]);
        len += n;
        if nul {
            strings[len] = 0;
            len += 1;
        }
        at
    };
    let random_off = put(&start.random, false);
    let platform_off = put(b"x86_64", true);
    let argv0_off = put(start.argv0.as_bytes(), true);
    let mut arg_offs = [0usize; MAX_ARGS];
    let mut argc = 0;
    for word in start.argv.split('+').filter(|_| !start.argv.is_empty()) {
        if argc < MAX_ARGS {
            let mut b = [0u8; 256];
            let n = unescape(word.as_bytes(), &mut b);
            arg_offs[argc] = put(&b[..n], true);
            argc += 1;
        }
    }
    if argc == 0 {
        arg_offs[0] = argv0_off;
        argc = 1;
    }
    let mut env_offs = [0usize; MAX_ENV];
    let mut envc = 0;
    for e in start.env.split(|&b| b == 0).filter(|e| !e.is_empty()) {
        if envc < env_offs.len() {
            env_offs[envc] = put(e, true);
            envc += 1;
        }
    }
    let strings_at = (STACK_TOP - len as u64 - 64) & !15;
    vm.copy_out(strings_at, &strings[..len])?;
    let s = |off: usize| strings_at + off as u64;
    let hwcap = core::arch::x86_64::__cpuid(1).edx as u64;
    let auxv: [(u64, u64); 19] = [
        (AT_PHDR, info.phdr_vaddr + bias),
        (AT_PHENT, info.phentsize),
        (AT_PHNUM, info.phnum),
        (AT_PAGESZ, FRAME_SIZE),
        (AT_BASE, 0),
        (AT_FLAGS, 0),
        (AT_ENTRY, entry),
        (AT_UID, 0),
        (AT_EUID, 0),
        (AT_GID, 0),
        (AT_EGID, 0),
        (AT_SECURE, 0),
        (AT_RANDOM, s(random_off)),
        (AT_HWCAP, hwcap),
        (AT_HWCAP2, 0),
        (AT_CLKTCK, 100),
        (AT_PLATFORM, s(platform_off)),
        (AT_EXECFN, s(argv0_off)),
        (AT_MINSIGSTKSZ, MIN_SIGSTKSZ),
    ];
    let words = 1 + argc + 1 + envc + 1 + (auxv.len() + 1) * 2;
    let sp = (strings_at - words as u64 * 8) & !15;
    let mut table = [0u64; TABLE];
    let mut w = 0;
    table[w] = argc as u64;
    w += 1;
    for off in &arg_offs[..argc] {
        table[w] = s(*off);
        w += 1;
    }
    w += 1; // argv NULL
    for off in &env_offs[..envc] {
        table[w] = s(*off);
        w += 1;
    }
    w += 1; // envp NULL
    for (k, v) in auxv {
        table[w] = k;
        table[w + 1] = v;
        w += 2;
    }
    table[w] = AT_NULL;
    w += 2;
    let mut bytes = [0u8; TABLE * 8];
    for (k, v) in table[..w].iter().enumerate() {
        bytes[k * 8..k * 8 + 8].copy_from_slice(&v.to_le_bytes());
    }
    vm.copy_out(sp, &bytes[..w * 8])?;
    Ok(sp)
}
