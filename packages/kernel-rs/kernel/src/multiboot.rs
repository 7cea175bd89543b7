//! Multiboot1 boot information: memory map, modules and their command lines.
pub const MAGIC: u32 = 0x2BADB002;

#[repr(C)]
struct Info {
    flags: u32,
    mem_lower: u32,
    mem_upper: u32,
    boot_device: u32,
    cmdline: u32,
    mods_count: u32,
    mods_addr: u32,
    syms: [u32; 4],
    mmap_length: u32,
    mmap_addr: u32,
}

#[repr(C)]
struct ModEntry {
    start: u32,
    end: u32,
    string: u32,
    _reserved: u32,
}

#[derive(Clone, Copy)]
pub struct BootModule {
    pub start: u64,
    pub end: u64,
    pub cmdline: &'static str,
}

impl BootModule {
    pub fn bytes(&self) -> &'static [u8] {
        // SAFETY: the loader placed the module at [start, end) in identity-mapped memory that
        // the frame allocator reserves for the kernel's lifetime.
        unsafe { core::slice::from_raw_parts(crate::memory::phys_ptr(self.start), (self.end - self.start) as usize) }
    }
}

pub struct BootInfo {
    info: &'static Info,
    phys: u64,
}

fn cstr(addr: u32) -> &'static str {
    if addr == 0 {
        return "";
    }
    // SAFETY: the multiboot loader gives NUL-terminated strings in low memory.
    unsafe {
        let p = crate::memory::phys_ptr(addr as u64) as *const u8;
        let mut n = 0;
        while *p.add(n) != 0 && n < 256 {
            n += 1;
        }
        core::str::from_utf8(core::slice::from_raw_parts(p, n)).unwrap_or("")
    }
}

impl BootInfo {
    /// SAFETY: `addr` must be the multiboot info pointer handed over by the loader.
    /// Build it again after the kernel's map replaces the boot identity map (`protect_kernel`):
    /// the structures are reached through `memory::phys_ptr`.
    pub unsafe fn new(addr: u64) -> Self {
        Self { info: &*(crate::memory::phys_ptr(addr) as *const Info), phys: addr }
    }

    pub fn cmdline(&self) -> &'static str {
        if self.info.flags & (1 << 2) != 0 { cstr(self.info.cmdline) } else { "" }
    }

    /// Available RAM ranges from the memory map (or mem_upper when there is no map).
    pub fn for_each_ram(&self, mut f: impl FnMut(u64, u64)) {
        if self.info.flags & (1 << 6) != 0 {
            let mut p = crate::memory::phys_ptr(self.info.mmap_addr as u64) as u64;
            let end = p + self.info.mmap_length as u64;
            while p < end {
                // SAFETY: entries lie within the loader-provided mmap buffer.
                unsafe {
                    let size = core::ptr::read_unaligned(p as *const u32) as u64;
                    let base = core::ptr::read_unaligned((p + 4) as *const u64);
                    let len = core::ptr::read_unaligned((p + 12) as *const u64);
                    let kind = core::ptr::read_unaligned((p + 20) as *const u32);
                    if kind == 1 {
                        f(base, base + len);
                    }
                    p += size + 4;
                }
            }
        } else if self.info.flags & 1 != 0 {
            f(0x100000, 0x100000 + self.info.mem_upper as u64 * 1024);
        }
    }

    /// Memory the loader used for boot information and modules: must never be handed out.
    pub fn reserved_ranges(&self, mut f: impl FnMut(u64, u64)) {
        let info = self.phys;
        f(info, info + core::mem::size_of::<Info>() as u64);
        if self.info.flags & (1 << 2) != 0 && self.info.cmdline != 0 {
            f(self.info.cmdline as u64, self.info.cmdline as u64 + 4096);
        }
        if self.info.flags & (1 << 6) != 0 {
            f(self.info.mmap_addr as u64, self.info.mmap_addr as u64 + self.info.mmap_length as u64);
        }
        if self.info.flags & (1 << 3) != 0 {
            f(self.info.mods_addr as u64, self.info.mods_addr as u64 + self.info.mods_count as u64 * 16);
            for m in self.modules() {
                f(m.start, m.end);
                let s = crate::memory::virt_to_phys(m.cmdline.as_ptr() as u64);
                f(s, s + m.cmdline.len() as u64 + 1);
            }
        }
    }

    pub fn modules(&self) -> impl Iterator<Item = BootModule> + '_ {
        let count = if self.info.flags & (1 << 3) != 0 { self.info.mods_count as usize } else { 0 };
        (0..count).map(move |i| {
            // SAFETY: mods_addr points at mods_count entries.
            let m = unsafe { &*(crate::memory::phys_ptr(self.info.mods_addr as u64 + (i * 16) as u64) as *const ModEntry) };
            BootModule { start: m.start as u64, end: m.end as u64, cmdline: cstr(m.string) }
        })
    }
}
