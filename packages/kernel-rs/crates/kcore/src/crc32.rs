//! CRC-32/IEEE (the zlib/PNG one), bitwise with a table built at compile time.

const fn make_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static TABLE: [u32; 256] = make_table();

/// Running CRC: `Crc::new().update(a).update(b).finish()` equals `crc32(a ++ b)` (the vector
/// store's log records are checked over several parts without joining them).
#[derive(Clone, Copy)]
pub struct Crc(u32);

impl Crc {
    pub fn new() -> Self {
        Crc(0xFFFF_FFFF)
    }
    pub fn update(mut self, data: &[u8]) -> Self {
        for &b in data {
            self.0 = TABLE[((self.0 ^ b as u32) & 0xFF) as usize] ^ (self.0 >> 8);
        }
        self
    }
    pub fn finish(self) -> u32 {
        !self.0
    }
}

impl Default for Crc {
    fn default() -> Self {
        Self::new()
    }
}

pub fn crc32(data: &[u8]) -> u32 {
    Crc::new().update(data).finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn known_vectors() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b"The quick brown fox jumps over the lazy dog"), 0x414F_A339);
        assert_eq!(Crc::new().update(b"1234").update(b"56789").finish(), 0xCBF4_3926);
    }
}
