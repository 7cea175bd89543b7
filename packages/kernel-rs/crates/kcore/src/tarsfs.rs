//! The read-only file tree format (`TARSFS01`) that the host builds from a directory and the
//! kernel mounts at `/` for Linux agents: parsed and checked once, then read in place (file data
//! is page-aligned in the archive, so a read-only mmap shares the archive's frames).
//!
//! Layout (little-endian):
//! ```text
//!   0  magic "TARSFS01"
//!   8  u32 entry count (root included)        12  u32 0
//!  16  u64 total length of the archive        24  u64 names offset     32  u64 names length
//!  40  [32] sha256 of bytes [72, total)
//!  72  entries, 40 bytes each, sorted by path (bytewise), the root ("") first:
//!        0 u8 kind (1 file, 2 directory, 3 symlink)  1 [3] 0   4 u32 mode (permission bits)
//!        8 u32 path offset in names   12 u32 path length   16 u32 parent entry   20 u32 0
//!       24 u64 data offset (a file's: a multiple of 4096; a symlink's target)   32 u64 size
//!  names: the paths, relative to the root ("etc/x"), without separators between them
//!  data: each file at a 4096-byte boundary, zero padding between; symlink targets
//! ```
//! Paths have no empty, `.` or `..` components; a parent comes before its children (the sort
//! order guarantees it), so the parent links have no cycles. Path resolution clamps `..` at the
//! root, follows at most `SYMLOOP_MAX` symlinks (then `Loop`) and bounds every intermediate path
//! by `PATH_MAX` (then `TooLong`).

pub const MAGIC: &[u8; 8] = b"TARSFS01";
pub const HEADER: usize = 72;
pub const ENTRY: usize = 40;
pub const PAGE: u64 = 4096;
/// Longest path a program may pass (bytes, without the NUL), and longest component.
pub const PATH_MAX: usize = 1023;
pub const NAME_MAX: usize = 255;
pub const SYMLOOP_MAX: usize = 40;
pub const MAX_ENTRIES: usize = 1 << 20;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    File,
    Dir,
    Symlink,
}

#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub kind: Kind,
    pub mode: u32,
    pub parent: u32,
    path: (usize, usize),
    pub data_off: u64,
    pub size: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PathError {
    NotFound,
    NotDir,
    Loop,
    TooLong,
}

#[derive(Clone, Copy)]
pub struct Tree<'a> {
    bytes: &'a [u8],
    count: usize,
    names: usize,
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    u32_at(b, o) as u64 | (u32_at(b, o + 4) as u64) << 32
}

fn valid_component(c: &[u8]) -> bool {
    !c.is_empty() && c != b"." && c != b".." && c.len() <= NAME_MAX && !c.iter().any(|&b| b == 0 || b == b'/')
}

impl<'a> Tree<'a> {
    /// Check an archive completely (header, hash, every entry); the reason when it is refused.
    pub fn parse(bytes: &'a [u8]) -> Result<Tree<'a>, &'static str> {
        if bytes.len() < HEADER || &bytes[..8] != MAGIC {
            return Err("not a TARSFS01 archive (bad magic)");
        }
        let count = u32_at(bytes, 8) as usize;
        let total = u64_at(bytes, 16);
        let (names, names_len) = (u64_at(bytes, 24), u64_at(bytes, 32));
        if total > bytes.len() as u64 || total < HEADER as u64 {
            return Err("archive length in the header exceeds the module");
        }
        let bytes = &bytes[..total as usize];
        if count == 0 || count > MAX_ENTRIES {
            return Err("entry count out of range");
        }
        if (HEADER + count * ENTRY) as u64 > names || names.checked_add(names_len).is_none_or(|e| e > total) {
            return Err("entry table or names out of bounds");
        }
        if crate::sha256::sha256(&bytes[HEADER..]) != bytes[40..72] {
            return Err("sha256 mismatch");
        }
        let t = Tree { bytes, count, names: names as usize };
        let names_end = names + names_len;
        for i in 0..count {
            let o = HEADER + i * ENTRY;
            let (kind, po, pl) = (bytes[o], u32_at(bytes, o + 8) as u64, u32_at(bytes, o + 12) as u64);
            if !(1..=3).contains(&kind) {
                return Err("entry of unknown kind");
            }
            if po + pl > names_len || pl as usize > PATH_MAX {
                return Err("entry path out of bounds");
            }
            let e = t.entry(i as u32);
            let path = t.path(i as u32);
            let (off, size) = (e.data_off, e.size);
            if i == 0 {
                if e.kind != Kind::Dir || !path.is_empty() || e.parent != 0 {
                    return Err("first entry is not the root directory");
                }
                continue;
            }
            if path <= t.path(i as u32 - 1) {
                return Err("entries not sorted or not unique");
            }
            let parent = e.parent as usize;
            if parent >= i || t.entry(parent as u32).kind != Kind::Dir {
                return Err("entry parent is not an earlier directory");
            }
            let pp = t.path(parent as u32);
            let last = if pp.is_empty() {
                path
            } else if path.len() > pp.len() + 1 && path.starts_with(pp) && path[pp.len()] == b'/' {
                &path[pp.len() + 1..]
            } else {
                return Err("entry path does not extend its parent's");
            };
            if !valid_component(last) {
                return Err("entry name empty, '.', '..', too long or with NUL");
            }
            match e.kind {
                Kind::Dir if size != 0 => return Err("directory with a size"),
                Kind::File if off % PAGE != 0 || off < names_end => return Err("file data not page-aligned after the names"),
                Kind::Symlink if size == 0 || size as usize > PATH_MAX => return Err("symlink target empty or too long"),
                _ => {}
            }
            if off.checked_add(size).is_none_or(|end| end > total) {
                return Err("entry data out of bounds");
            }
            if e.kind == Kind::Symlink && t.data(i as u32).contains(&0) {
                return Err("symlink target with NUL");
            }
        }
        Ok(t)
    }

    /// Entries, the root included.
    pub fn entries(&self) -> usize {
        self.count
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn entry(&self, i: u32) -> Entry {
        let o = HEADER + i as usize * ENTRY;
        let b = self.bytes;
        let kind = match b[o] {
            1 => Kind::File,
            2 => Kind::Dir,
            _ => Kind::Symlink,
        };
        let path = (self.names + u32_at(b, o + 8) as usize, u32_at(b, o + 12) as usize);
        Entry { kind, mode: u32_at(b, o + 4), parent: u32_at(b, o + 16), path, data_off: u64_at(b, o + 24), size: u64_at(b, o + 32) }
    }

    /// An entry's path relative to the root ("" for the root).
    pub fn path(&self, i: u32) -> &'a [u8] {
        let e = self.entry(i);
        &self.bytes[e.path.0..e.path.0 + e.path.1]
    }

    /// The last component of an entry's path.
    pub fn name(&self, i: u32) -> &'a [u8] {
        let p = self.path(i);
        match p.iter().rposition(|&b| b == b'/') {
            Some(s) => &p[s + 1..],
            None => p,
        }
    }

    /// A file's bytes or a symlink's target.
    pub fn data(&self, i: u32) -> &'a [u8] {
        let e = self.entry(i);
        &self.bytes[e.data_off as usize..(e.data_off + e.size) as usize]
    }

    /// The entry `name` inside directory `dir`.
    pub fn child(&self, dir: u32, name: &[u8]) -> Option<u32> {
        let dp = self.path(dir);
        let sep: &[u8] = if dp.is_empty() { b"" } else { b"/" };
        let (mut lo, mut hi) = (1usize, self.count);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.path(mid as u32).iter().cmp(dp.iter().chain(sep).chain(name)) {
                core::cmp::Ordering::Less => lo = mid + 1,
                core::cmp::Ordering::Greater => hi = mid,
                core::cmp::Ordering::Equal => return Some(mid as u32),
            }
        }
        None
    }

    /// The first child of `dir` at index `from` or later (directory listing order: by path).
    pub fn next_child(&self, dir: u32, from: u32) -> Option<u32> {
        let dp = self.path(dir);
        let mut j = (from as usize).max(dir as usize + 1);
        while j < self.count {
            if self.entry(j as u32).parent == dir {
                return Some(j as u32);
            }
            // Past the entries under `dir` (they all start with its path and a '/').
            if dir != 0 && !self.path(j as u32).starts_with(dp) {
                return None;
            }
            j += 1;
        }
        None
    }

    /// Resolve `path` from directory `start` (an absolute path starts at the root), following
    /// symlinks, and the last one too when `follow_last`.
    pub fn resolve(&self, start: u32, path: &[u8], follow_last: bool) -> Result<u32, PathError> {
        if path.len() > PATH_MAX {
            return Err(PathError::TooLong);
        }
        if path.is_empty() {
            return Err(PathError::NotFound);
        }
        let mut buf = [0u8; PATH_MAX + 1];
        buf[..path.len()].copy_from_slice(path);
        let mut len = path.len();
        let mut cur = if path[0] == b'/' { 0 } else { start };
        let (mut i, mut links) = (0usize, 0usize);
        loop {
            while i < len && buf[i] == b'/' {
                i += 1;
            }
            if i == len {
                return Ok(cur);
            }
            let s = i;
            while i < len && buf[i] != b'/' {
                i += 1;
            }
            if i - s > NAME_MAX {
                return Err(PathError::TooLong);
            }
            if self.entry(cur).kind != Kind::Dir {
                return Err(PathError::NotDir);
            }
            let trailing = i < len;
            let last = buf[i..len].iter().all(|&b| b == b'/');
            let comp = &buf[s..i];
            if comp == b"." {
                continue;
            }
            if comp == b".." {
                cur = self.entry(cur).parent;
                continue;
            }
            let child = self.child(cur, comp).ok_or(PathError::NotFound)?;
            let e = self.entry(child);
            if e.kind == Kind::Symlink && (!last || follow_last || trailing) {
                links += 1;
                if links > SYMLOOP_MAX {
                    return Err(PathError::Loop);
                }
                let target = self.data(child);
                // The rest (empty, or starting with '/') follows the target.
                let rest = len - i;
                if target.len() + rest > PATH_MAX {
                    return Err(PathError::TooLong);
                }
                buf.copy_within(i..len, target.len());
                buf[..target.len()].copy_from_slice(target);
                len = target.len() + rest;
                if target[0] == b'/' {
                    cur = 0;
                }
                i = 0;
                continue;
            }
            if last && trailing && e.kind == Kind::File {
                return Err(PathError::NotDir);
            }
            cur = child;
        }
    }
}

/// Build an archive (tests; the host's writer is packages/image-builder/src/file-tree.ts).
/// `items`: (path, kind, bytes) with paths relative to the root, any order, parents listed.
#[cfg(test)]
pub fn build(items: &[(&str, Kind, &[u8])]) -> Vec<u8> {
    let mut items: Vec<(&str, Kind, &[u8])> = items.to_vec();
    items.push(("", Kind::Dir, b""));
    items.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let names_off = HEADER + items.len() * ENTRY;
    let names: Vec<u8> = items.iter().flat_map(|i| i.0.bytes()).collect();
    let mut data_at = names_off + names.len();
    let mut out = vec![0u8; data_at];
    let mut name_pos = 0;
    for (n, (path, kind, body)) in items.iter().enumerate() {
        let parent = match path.rfind('/') {
            Some(s) => items.iter().position(|i| i.0 == &path[..s]).unwrap(),
            None => 0,
        };
        let off = match kind {
            Kind::File => {
                data_at = data_at.div_ceil(PAGE as usize) * PAGE as usize;
                data_at
            }
            _ => data_at,
        };
        out.resize(off, 0);
        out.extend_from_slice(body);
        data_at = off + body.len();
        let o = HEADER + n * ENTRY;
        out[o] = match kind {
            Kind::File => 1,
            Kind::Dir => 2,
            Kind::Symlink => 3,
        };
        out[o + 4..o + 8].copy_from_slice(&0o644u32.to_le_bytes());
        out[o + 8..o + 12].copy_from_slice(&(name_pos as u32).to_le_bytes());
        out[o + 12..o + 16].copy_from_slice(&(path.len() as u32).to_le_bytes());
        out[o + 16..o + 20].copy_from_slice(&(parent as u32).to_le_bytes());
        out[o + 24..o + 32].copy_from_slice(&(if *kind == Kind::Dir { 0 } else { off as u64 }).to_le_bytes());
        out[o + 32..o + 40].copy_from_slice(&(body.len() as u64).to_le_bytes());
        name_pos += path.len();
    }
    out[names_off..names_off + names.len()].copy_from_slice(&names);
    out[..8].copy_from_slice(MAGIC);
    out[8..12].copy_from_slice(&(items.len() as u32).to_le_bytes());
    let total = out.len() as u64;
    out[16..24].copy_from_slice(&total.to_le_bytes());
    out[24..32].copy_from_slice(&(names_off as u64).to_le_bytes());
    out[32..40].copy_from_slice(&(names.len() as u64).to_le_bytes());
    let h = crate::sha256::sha256(&out[HEADER..]);
    out[40..72].copy_from_slice(&h);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        build(&[
            ("etc", Kind::Dir, b""),
            ("etc/x", Kind::File, b"hello\n"),
            ("etc/link", Kind::Symlink, b"x"),
            ("etc/abs", Kind::Symlink, b"/etc/x"),
            ("etc/up", Kind::Symlink, b"../../../../etc"),
            ("loop1", Kind::Symlink, b"loop2"),
            ("loop2", Kind::Symlink, b"/loop1"),
            ("a-b", Kind::File, b"dash"),
            ("data", Kind::Dir, b""),
            ("data/big", Kind::File, &[7u8; 10000]),
        ])
    }

    #[test]
    fn parses_and_resolves() {
        let a = sample();
        let t = Tree::parse(&a).unwrap();
        let x = t.resolve(0, b"/etc/x", true).unwrap();
        assert_eq!(t.data(x), b"hello\n");
        assert_eq!(t.entry(x).data_off % PAGE, 0);
        assert_eq!(t.resolve(0, b"etc/./link", true), Ok(x));
        assert_eq!(t.resolve(0, b"/etc/abs", true), Ok(x));
        assert_eq!(t.resolve(0, b"/../../etc/../etc//x", true), Ok(x));
        assert_eq!(t.resolve(0, b"/etc/up/x", true), Ok(x));
        let link = t.resolve(0, b"/etc/link", false).unwrap();
        assert_eq!(t.entry(link).kind, Kind::Symlink);
        assert_eq!(t.resolve(0, b"/etc/x/", true), Err(PathError::NotDir));
        assert_eq!(t.resolve(0, b"/etc/x/y", true), Err(PathError::NotDir));
        assert_eq!(t.resolve(0, b"/etc/nope", true), Err(PathError::NotFound));
        assert_eq!(t.resolve(0, b"/loop1", true), Err(PathError::Loop));
        assert_eq!(t.resolve(0, b"/loop1/x", false), Err(PathError::Loop));
        assert!(t.resolve(0, b"/loop1", false).is_ok());
        let long = vec![b'a'; 300];
        assert_eq!(t.resolve(0, &long, true), Err(PathError::TooLong));
        assert_eq!(t.resolve(0, &[b'/'; 1024], true), Err(PathError::TooLong));
        let data = t.resolve(0, b"data", true).unwrap();
        assert_eq!(t.resolve(data, b"big", true).map(|b| t.entry(b).size), Ok(10000));
        assert_eq!(t.resolve(0, b"a-b", true).map(|b| t.data(b)), Ok(&b"dash"[..]));
        // Listing the root: its direct children in path order.
        let mut names = vec![];
        let mut j = 0;
        while let Some(c) = t.next_child(0, j) {
            names.push(core::str::from_utf8(t.name(c)).unwrap().to_string());
            j = c + 1;
        }
        assert_eq!(names, ["a-b", "data", "etc", "loop1", "loop2"]);
        let etc = t.resolve(0, b"etc", true).unwrap();
        let mut n = 0;
        let mut j = 0;
        while let Some(c) = t.next_child(etc, j) {
            n += 1;
            j = c + 1;
        }
        assert_eq!(n, 4);
    }

    #[test]
    fn refuses_malformed_archives() {
        let good = sample();
        assert!(Tree::parse(&good[..40]).is_err());
        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(Tree::parse(&bad).err(), Some("not a TARSFS01 archive (bad magic)"));
        let mut bad = good.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(Tree::parse(&bad).err(), Some("sha256 mismatch"));
        assert!(Tree::parse(&good[..good.len() - 1]).is_err());
        // A '..' entry, re-hashed so only the name is wrong.
        let mut bad = build(&[("x", Kind::Dir, b""), ("x/..", Kind::File, b"z")]);
        let h = crate::sha256::sha256(&bad[HEADER..]);
        bad[40..72].copy_from_slice(&h);
        assert_eq!(Tree::parse(&bad).err(), Some("entry name empty, '.', '..', too long or with NUL"));
        // An entry count far past the module.
        let mut bad = good.clone();
        bad[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Tree::parse(&bad).is_err());
        // Garbage of every length never panics.
        for n in 0..200 {
            let g: Vec<u8> = (0..n).map(|v| (v * 37 + 11) as u8).collect();
            assert!(Tree::parse(&g).is_err());
        }
    }
}
