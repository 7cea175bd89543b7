//! The kernel's log ring: the last LOG_LINES lines, served by the control channel's `log`.
pub const LOG_LINES: usize = 64;
pub const LINE_LEN: usize = 120;

pub struct LogRing {
    lines: [[u8; LINE_LEN]; LOG_LINES],
    lens: [u8; LOG_LINES],
    stamps: [u64; LOG_LINES],
    next: usize,
    count: usize,
}

impl LogRing {
    pub const fn new() -> Self {
        Self { lines: [[0; LINE_LEN]; LOG_LINES], lens: [0; LOG_LINES], stamps: [0; LOG_LINES], next: 0, count: 0 }
    }

    pub fn push(&mut self, t_us: u64, text: &[u8]) {
        let n = text.len().min(LINE_LEN);
        self.lines[self.next][..n].copy_from_slice(&text[..n]);
        self.lens[self.next] = n as u8;
        self.stamps[self.next] = t_us;
        self.next = (self.next + 1) % LOG_LINES;
        self.count = (self.count + 1).min(LOG_LINES);
    }

    /// Oldest first.
    pub fn for_each(&self, mut f: impl FnMut(u64, &str)) {
        let start = (self.next + LOG_LINES - self.count) % LOG_LINES;
        for k in 0..self.count {
            let i = (start + k) % LOG_LINES;
            let text = core::str::from_utf8(&self.lines[i][..self.lens[i] as usize]).unwrap_or("?");
            f(self.stamps[i], text);
        }
    }
}
