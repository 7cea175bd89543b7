//! ELF64 loader front half: validates an agent image and yields its loadable segments.
//! Every offset and size is bounds-checked; addresses must fall inside the user window.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfError {
    TooShort,
    BadMagic,
    NotElf64,
    NotLittleEndian,
    NotX86_64,
    NotExecutable,
    BadProgramHeaders,
    SegmentOutOfFile,
    SegmentOutsideUserWindow,
    FileSizeExceedsMemSize,
    EntryNotInSegment,
    NoLoadableSegments,
    NeedsInterpreter,
    Misaligned,
}

impl ElfError {
    pub fn message(self) -> &'static str {
        match self {
            ElfError::TooShort => "file shorter than the ELF header",
            ElfError::BadMagic => "not an ELF file",
            ElfError::NotElf64 => "not ELF64",
            ElfError::NotLittleEndian => "not little-endian",
            ElfError::NotX86_64 => "not x86_64",
            ElfError::NotExecutable => "not an executable (ET_EXEC)",
            ElfError::BadProgramHeaders => "program header table out of bounds",
            ElfError::SegmentOutOfFile => "segment data beyond end of file",
            ElfError::SegmentOutsideUserWindow => "segment outside the user address window",
            ElfError::FileSizeExceedsMemSize => "segment file size exceeds memory size",
            ElfError::EntryNotInSegment => "entry point not in an executable segment",
            ElfError::NoLoadableSegments => "no PT_LOAD segments",
            ElfError::NeedsInterpreter => "dynamically linked (PT_INTERP): link the program statically (-static or -static-pie)",
            ElfError::Misaligned => "segment address and file offset disagree modulo the page size",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u64,
    pub memsz: u64,
    pub offset: u64,
    pub filesz: u64,
    pub writable: bool,
    pub executable: bool,
}

pub struct Elf<'a> {
    data: &'a [u8],
    pub entry: u64,
    phoff: usize,
    phnum: usize,
    phentsize: usize,
}

const PT_LOAD: u32 = 1;
const PT_INTERP: u32 = 3;
const PT_PHDR: u32 = 6;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;

/// What the Linux loader needs beyond the segments: whether the image is position-independent
/// (ET_DYN, static-pie), the page-aligned span of its segments and where its program headers
/// are in memory (AT_PHDR, before the load bias).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinuxInfo {
    pub pie: bool,
    pub lo: u64,
    pub hi: u64,
    pub phdr_vaddr: u64,
    pub phnum: u64,
    pub phentsize: u64,
}
const PF_X: u32 = 1;
const PF_W: u32 = 2;

fn u16_at(d: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([d[o], d[o + 1]])
}
fn u32_at(d: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]])
}
fn u64_at(d: &[u8], o: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[o..o + 8]);
    u64::from_le_bytes(b)
}

/// An image needs a loadable segment, and its entry point inside an executable one.
fn loadable_with_entry(any: bool, entry_ok: bool) -> Result<(), ElfError> {
    if !any {
        return Err(ElfError::NoLoadableSegments);
    }
    if !entry_ok {
        return Err(ElfError::EntryNotInSegment);
    }
    Ok(())
}

impl<'a> Elf<'a> {
    /// The ELF header checks both loaders share: ELF64, little-endian, x86-64, a type in `types`,
    /// a program-header table inside the file.
    fn header(data: &'a [u8], types: &[u16]) -> Result<Self, ElfError> {
        if data.len() < 64 {
            return Err(ElfError::TooShort);
        }
        if &data[0..4] != b"\x7fELF" {
            return Err(ElfError::BadMagic);
        }
        if data[4] != 2 {
            return Err(ElfError::NotElf64);
        }
        if data[5] != 1 {
            return Err(ElfError::NotLittleEndian);
        }
        if !types.contains(&u16_at(data, 16)) {
            return Err(ElfError::NotExecutable);
        }
        if u16_at(data, 18) != 62 {
            return Err(ElfError::NotX86_64);
        }
        let entry = u64_at(data, 24);
        let phoff = u64_at(data, 32);
        let phentsize = u16_at(data, 54) as usize;
        let phnum = u16_at(data, 56) as usize;
        let table = (phnum as u64).checked_mul(phentsize as u64).and_then(|n| n.checked_add(phoff));
        if phentsize < 56 || phnum == 0 || table.is_none_or(|end| end > data.len() as u64) {
            return Err(ElfError::BadProgramHeaders);
        }
        Ok(Elf { data, entry, phoff: phoff as usize, phnum, phentsize })
    }

    /// What every loader checks of a PT_LOAD segment: its file bytes are inside the file and
    /// no more than its memory size.
    fn check_file_bytes(&self, seg: &Segment) -> Result<(), ElfError> {
        if seg.filesz > seg.memsz {
            return Err(ElfError::FileSizeExceedsMemSize);
        }
        if seg.offset.checked_add(seg.filesz).is_none_or(|e| e > self.data.len() as u64) {
            return Err(ElfError::SegmentOutOfFile);
        }
        Ok(())
    }

    /// Parse and validate; `window` is the [start, end) range segments must lie in.
    pub fn parse(data: &'a [u8], window: (u64, u64)) -> Result<Self, ElfError> {
        let elf = Self::header(data, &[ET_EXEC])?;
        let mut any = false;
        let mut entry_ok = false;
        for seg in elf.segments() {
            any = true;
            elf.check_file_bytes(&seg)?;
            let end = seg.vaddr.checked_add(seg.memsz);
            if seg.vaddr < window.0 || end.is_none_or(|e| e > window.1) {
                return Err(ElfError::SegmentOutsideUserWindow);
            }
            if seg.executable && elf.entry >= seg.vaddr && elf.entry < seg.vaddr + seg.memsz {
                entry_ok = true;
            }
        }
        loadable_with_entry(any, entry_ok)?;
        Ok(elf)
    }

    /// Parse a static Linux executable: ET_EXEC or ET_DYN (static-pie), no PT_INTERP. For a PIE
    /// the segment addresses are relative (the loader adds a bias) and `window` only bounds
    /// the span; for ET_EXEC the segments must lie in `window` itself.
    pub fn parse_linux(data: &'a [u8], window: (u64, u64)) -> Result<(Self, LinuxInfo), ElfError> {
        let elf = Self::header(data, &[ET_EXEC, ET_DYN])?;
        let pie = u16_at(data, 16) == ET_DYN;
        let (entry, phoff, phnum, phentsize) = (elf.entry, elf.phoff as u64, elf.phnum, elf.phentsize);
        let mut phdr_vaddr = None;
        for i in 0..phnum {
            let o = phoff as usize + i * phentsize;
            match u32_at(data, o) {
                PT_INTERP => return Err(ElfError::NeedsInterpreter),
                PT_PHDR => phdr_vaddr = Some(u64_at(data, o + 16)),
                _ => {}
            }
        }
        let (mut lo, mut hi, mut any, mut entry_ok) = (u64::MAX, 0u64, false, false);
        for seg in elf.segments() {
            any = true;
            elf.check_file_bytes(&seg)?;
            if seg.vaddr % 4096 != seg.offset % 4096 {
                return Err(ElfError::Misaligned);
            }
            let end = seg.vaddr.checked_add(seg.memsz).ok_or(ElfError::SegmentOutsideUserWindow)?;
            lo = lo.min(seg.vaddr & !4095);
            hi = hi.max(end.checked_add(4095).ok_or(ElfError::SegmentOutsideUserWindow)? & !4095);
            if seg.executable && entry >= seg.vaddr && entry < end {
                entry_ok = true;
            }
            if phdr_vaddr.is_none() && seg.offset <= phoff && phoff < seg.offset + seg.filesz {
                phdr_vaddr = Some(seg.vaddr + (phoff - seg.offset));
            }
        }
        loadable_with_entry(any, entry_ok)?;
        let span_ok = if pie { hi - lo <= window.1 - window.0 } else { lo >= window.0 && hi <= window.1 };
        if !span_ok {
            return Err(ElfError::SegmentOutsideUserWindow);
        }
        let info = LinuxInfo { pie, lo, hi, phdr_vaddr: phdr_vaddr.unwrap_or(0), phnum: phnum as u64, phentsize: phentsize as u64 };
        Ok((elf, info))
    }

    pub fn segments(&self) -> impl Iterator<Item = Segment> + '_ {
        (0..self.phnum).filter_map(move |i| {
            let o = self.phoff + i * self.phentsize;
            let d = self.data;
            if u32_at(d, o) != PT_LOAD {
                return None;
            }
            let flags = u32_at(d, o + 4);
            Some(Segment {
                offset: u64_at(d, o + 8),
                vaddr: u64_at(d, o + 16),
                filesz: u64_at(d, o + 32),
                memsz: u64_at(d, o + 40),
                writable: flags & PF_W != 0,
                executable: flags & PF_X != 0,
            })
        })
    }

    /// The bytes of a segment that come from the file.
    pub fn segment_data(&self, s: &Segment) -> &'a [u8] {
        &self.data[s.offset as usize..(s.offset + s.filesz) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIN: (u64, u64) = (0x40_0000, 0x80_0000_0000);

    /// A minimal ELF64 executable with one RX segment holding `code`.
    fn build(code: &[u8], vaddr: u64, entry: u64) -> Vec<u8> {
        let mut v = vec![0u8; 64 + 56];
        v[0..4].copy_from_slice(b"\x7fELF");
        v[4] = 2;
        v[5] = 1;
        v[6] = 1;
        v[16..18].copy_from_slice(&2u16.to_le_bytes());
        v[18..20].copy_from_slice(&62u16.to_le_bytes());
        v[24..32].copy_from_slice(&entry.to_le_bytes());
        v[32..40].copy_from_slice(&64u64.to_le_bytes());
        v[54..56].copy_from_slice(&56u16.to_le_bytes());
        v[56..58].copy_from_slice(&1u16.to_le_bytes());
        let p = 64;
        v[p..p + 4].copy_from_slice(&1u32.to_le_bytes());
        v[p + 4..p + 8].copy_from_slice(&5u32.to_le_bytes());
        v[p + 8..p + 16].copy_from_slice(&120u64.to_le_bytes());
        v[p + 16..p + 24].copy_from_slice(&vaddr.to_le_bytes());
        v[p + 32..p + 40].copy_from_slice(&(code.len() as u64).to_le_bytes());
        v[p + 40..p + 48].copy_from_slice(&(code.len() as u64 + 16).to_le_bytes());
        v.extend_from_slice(code);
        v
    }

    #[test]
    fn parses_a_valid_image() {
        let img = build(&[0x90, 0xc3], 0x40_0000, 0x40_0000);
        let elf = Elf::parse(&img, WIN).unwrap();
        let segs: Vec<_> = elf.segments().collect();
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].vaddr, 0x40_0000);
        assert!(segs[0].executable && !segs[0].writable);
        assert_eq!(elf.segment_data(&segs[0]), &[0x90, 0xc3]);
    }

    #[test]
    fn rejects_bad_images() {
        let good = build(&[0x90], 0x40_0000, 0x40_0000);
        assert_eq!(Elf::parse(&good[..10], WIN).err(), Some(ElfError::TooShort));
        let mut m = good.clone();
        m[0] = 0;
        assert_eq!(Elf::parse(&m, WIN).err(), Some(ElfError::BadMagic));
        assert_eq!(Elf::parse(&build(&[0x90], 0x1000, 0x1000), WIN).err(), Some(ElfError::SegmentOutsideUserWindow));
        assert_eq!(Elf::parse(&build(&[0x90], 0x40_0000, 0x50_0000), WIN).err(), Some(ElfError::EntryNotInSegment));
        let mut big = good.clone();
        big[64 + 32..64 + 40].copy_from_slice(&1000u64.to_le_bytes());
        big[64 + 40..64 + 48].copy_from_slice(&2000u64.to_le_bytes());
        assert_eq!(Elf::parse(&big, WIN).err(), Some(ElfError::SegmentOutOfFile));
        let mut ph = good.clone();
        ph[56..58].copy_from_slice(&500u16.to_le_bytes());
        assert_eq!(Elf::parse(&ph, WIN).err(), Some(ElfError::BadProgramHeaders));
        let mut wrap = good.clone();
        wrap[64 + 16..64 + 24].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(Elf::parse(&wrap, WIN).err(), Some(ElfError::SegmentOutsideUserWindow));
    }

    #[test]
    fn parses_static_pie_and_rejects_interpreters() {
        let mut pie = build(&[0x90, 0xc3], 0x1000, 0x1000);
        pie[16..18].copy_from_slice(&3u16.to_le_bytes());
        // file offset 120 vs vaddr 0x1000: misaligned modulo the page.
        assert_eq!(Elf::parse_linux(&pie, WIN).err(), Some(ElfError::Misaligned));
        pie[64 + 16..64 + 24].copy_from_slice(&(0x1000u64 + 120).to_le_bytes());
        pie[24..32].copy_from_slice(&(0x1000u64 + 120).to_le_bytes());
        let (e, info) = Elf::parse_linux(&pie, WIN).unwrap();
        assert!(info.pie);
        assert_eq!((info.lo, info.hi), (0x1000, 0x2000));
        assert_eq!(e.entry, 0x1078);
        let mut interp = pie.clone();
        interp[64..68].copy_from_slice(&3u32.to_le_bytes());
        interp[56..58].copy_from_slice(&1u16.to_le_bytes());
        assert_eq!(Elf::parse_linux(&interp, WIN).err(), Some(ElfError::NeedsInterpreter));
        for cut in 0..pie.len() {
            let _ = Elf::parse_linux(&pie[..cut], WIN);
        }
    }

    #[test]
    fn fuzz_truncated_and_mutated_images_never_panic() {
        let good = build(&[0x90, 0x90, 0xc3], 0x40_0000, 0x40_0001);
        let mut seed = 7u64;
        for cut in 0..good.len() {
            let _ = Elf::parse(&good[..cut], WIN);
        }
        for _ in 0..20000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            let mut v = good.clone();
            for k in 0..4 {
                let i = ((seed >> (8 * k + 3)) as usize) % v.len();
                v[i] = (seed >> (k * 5)) as u8;
            }
            if let Ok(e) = Elf::parse(&v, WIN) {
                for s in e.segments() {
                    let _ = e.segment_data(&s);
                }
            }
        }
    }
}
