//! Scheduler policy (pure): fixed-size priority levels with adaptation to observed behaviour.
//!
//! Policy (documented in README "Scheduling"):
//! - Levels 0 (most urgent) ..= MAX_LEVEL. A task starts at its base level.
//! - A task that burns its whole quantum is CPU-bound: it drops one level (at most
//!   DEMOTE_LIMIT below its base).
//! - A task that blocks or yields before its quantum ends (IPC-bound, interactive) rises one
//!   level, never above its base.
//! - Aging: a runnable task that has waited AGING_TICKS without running rises one level, so
//!   demoted tasks cannot starve.
//! - Pick: the most urgent runnable level; round-robin inside a level (least recently run).

pub const MAX_LEVEL: u8 = 7;
pub const DEMOTE_LIMIT: u8 = 3;
pub const AGING_TICKS: u64 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedInfo {
    pub runnable: bool,
    pub base: u8,
    pub level: u8,
    pub last_run: u64,
}

impl SchedInfo {
    pub fn new(base: u8) -> Self {
        let base = base.min(MAX_LEVEL);
        Self { runnable: true, base, level: base, last_run: 0 }
    }

    /// The task used its whole quantum.
    pub fn on_quantum_expired(&mut self) {
        let floor = (self.base + DEMOTE_LIMIT).min(MAX_LEVEL);
        if self.level < floor {
            self.level += 1;
        }
    }

    /// The task blocked or yielded early.
    pub fn on_early_yield(&mut self) {
        if self.level > self.base {
            self.level -= 1;
        }
    }
}

/// Apply aging, then choose the next task (index) among `tasks`, or None if none is runnable.
pub fn pick(tasks: &mut [Option<SchedInfo>], now: u64) -> Option<usize> {
    let n = tasks.len();
    pick_among(tasks, 0..n, now)
}

/// `pick`, visiting only the slots whose bit is set in `mask` (bit i of word w = slot 64w + i):
/// with 1,024 slots and a few tasks, the scan costs what the tasks cost, not the table.
pub fn pick_masked(tasks: &mut [Option<SchedInfo>], mask: &[u64], now: u64) -> Option<usize> {
    let bits = mask.iter().enumerate().flat_map(|(w, &word)| {
        let mut m = word;
        core::iter::from_fn(move || {
            if m == 0 {
                return None;
            }
            let b = m.trailing_zeros() as usize;
            m &= m - 1;
            Some(w * 64 + b)
        })
    });
    pick_among(tasks, bits, now)
}

fn pick_among(tasks: &mut [Option<SchedInfo>], indices: impl Iterator<Item = usize>, now: u64) -> Option<usize> {
    let mut best: Option<(u8, u64, usize)> = None;
    for i in indices {
        let Some(Some(t)) = tasks.get_mut(i) else { continue };
        if !t.runnable {
            continue;
        }
        if now.saturating_sub(t.last_run) >= AGING_TICKS && t.level > t.base {
            t.level -= 1;
            t.last_run = now; // restart the aging clock
        }
        let key = (t.level, t.last_run, i);
        if best.is_none_or(|b| key < b) {
            best = Some(key);
        }
    }
    best.map(|(_, _, i)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_bound_tasks_sink_and_interactive_ones_stay_up() {
        let mut cpu = SchedInfo::new(2);
        for _ in 0..10 {
            cpu.on_quantum_expired();
        }
        assert_eq!(cpu.level, 5);
        cpu.on_early_yield();
        assert_eq!(cpu.level, 4);
        let mut io = SchedInfo::new(2);
        io.on_early_yield();
        assert_eq!(io.level, 2);
    }

    #[test]
    fn picks_most_urgent_then_round_robin() {
        let mut a = SchedInfo::new(3);
        a.last_run = 5;
        let mut b = SchedInfo::new(3);
        b.last_run = 2;
        let mut c = SchedInfo::new(1);
        c.runnable = false;
        let mut tasks = [Some(a), None, Some(b), Some(c)];
        assert_eq!(pick(&mut tasks, 10), Some(2));
        tasks[3].as_mut().unwrap().runnable = true;
        assert_eq!(pick(&mut tasks, 10), Some(3));
        let mut none: [Option<SchedInfo>; 2] = [None, None];
        assert_eq!(pick(&mut none, 0), None);
        // The masked scan sees only the slots in the mask, in any word.
        let mut wide = [None; 130];
        wide[3] = Some(SchedInfo::new(4));
        wide[129] = Some(SchedInfo::new(1));
        assert_eq!(pick_masked(&mut wide, &[1 << 3, 0, 1 << 1], 0), Some(129));
        assert_eq!(pick_masked(&mut wide, &[1 << 3, 0, 0], 0), Some(3));
        assert_eq!(pick_masked(&mut wide, &[0, 0, 0], 0), None);
    }

    #[test]
    fn aging_prevents_starvation() {
        let mut hog = SchedInfo::new(0);
        let mut low = SchedInfo::new(0);
        for _ in 0..3 {
            low.on_quantum_expired();
        }
        assert_eq!(low.level, 3);
        let mut tasks = [Some(hog), Some(low)];
        let mut now = 0;
        let mut low_ran = false;
        for _ in 0..400 {
            now += 1;
            let i = pick(&mut tasks, now).unwrap();
            tasks[i].as_mut().unwrap().last_run = now;
            if i == 1 {
                low_ran = true;
                break;
            }
        }
        assert!(low_ran, "demoted task never ran");
        hog.on_early_yield();
        assert_eq!(hog.level, 0);
    }
}
