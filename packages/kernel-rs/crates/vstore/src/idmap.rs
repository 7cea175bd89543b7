//! Point id → slot, an open-addressing table of 4-byte slots (the id itself is read back from
//! the collection's id array), so the map costs about 6 bytes a point.
use alloc::vec;
use alloc::vec::Vec;

const EMPTY: u32 = u32::MAX;

pub struct IdMap {
    table: Vec<u32>,
    len: usize,
}

fn hash(id: u64) -> u64 {
    let mut z = id.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl IdMap {
    pub fn new() -> Self {
        IdMap { table: vec![EMPTY; 16], len: 0 }
    }
    pub fn bytes(&self) -> usize {
        self.table.capacity() * 4
    }
    fn find(&self, id: u64, ids: &[u64]) -> (usize, bool) {
        let mask = self.table.len() - 1;
        let mut i = hash(id) as usize & mask;
        loop {
            let s = self.table[i];
            if s == EMPTY {
                return (i, false);
            }
            if ids[s as usize] == id {
                return (i, true);
            }
            i = (i + 1) & mask;
        }
    }
    pub fn get(&self, id: u64, ids: &[u64]) -> Option<u32> {
        match self.find(id, ids) {
            (i, true) => Some(self.table[i]),
            _ => None,
        }
    }
    /// Point `id` at `slot` (`ids[slot] == id` already).
    pub fn set(&mut self, id: u64, slot: u32, ids: &[u64]) {
        if (self.len + 1) * 4 > self.table.len() * 3 {
            let grown = vec![EMPTY; self.table.len() * 2];
            let old = core::mem::replace(&mut self.table, grown);
            for s in old.into_iter().filter(|&s| s != EMPTY) {
                let (i, _) = self.find(ids[s as usize], ids);
                self.table[i] = s;
            }
        }
        let (i, found) = self.find(id, ids);
        if !found {
            self.len += 1;
        }
        self.table[i] = slot;
    }
}

impl Default for IdMap {
    fn default() -> Self {
        Self::new()
    }
}
