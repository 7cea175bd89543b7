//! The multi-agent environment of `packages/gpu-modules/reference/marl.h`, ported bit for bit
//! (integer fixed point): the same seed gives the same rewards as the CPU reference and the CUDA
//! kernel. One agent's step reads the occupancy before the step and updates its own Q table,
//! position and random state.
pub const GRID: i32 = 16;
pub const STATES: usize = (GRID * GRID) as usize;
pub const ACTIONS: usize = 5;
pub const FOOD: i32 = 1 << 16;
pub const STEP_COST: i32 = 1 << 10;

pub fn xorshift(mut x: u32) -> u32 {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    x
}

fn is_food(cell: i32) -> bool {
    let (x, y) = (cell % GRID, cell / GRID);
    (x * 7 + y * 3) % 11 == 0
}

fn step_cell(cell: i32, a: usize) -> i32 {
    let (mut x, mut y) = (cell % GRID, cell / GRID);
    match a {
        0 => x = (x + 1) % GRID,
        1 => x = (x + GRID - 1) % GRID,
        2 => y = (y + 1) % GRID,
        3 => y = (y + GRID - 1) % GRID,
        _ => {}
    }
    y * GRID + x
}

/// Agent `i`'s initial (position, random state) for `seed` (marl_init).
pub fn init_agent(seed: u32, i: u32) -> (i32, u32) {
    let mut r = xorshift(seed ^ 0x9E37_79B9u32.wrapping_mul(i + 1));
    if r == 0 {
        r = 1;
    }
    ((r % STATES as u32) as i32, r)
}

/// One step of one agent (marl_agent_step); returns its reward.
pub fn agent_step(q: &mut [i32; STATES * ACTIONS], pos: &mut i32, rng: &mut u32, occ: &[i32]) -> i32 {
    let s = *pos as usize;
    let r = xorshift(*rng);
    *rng = r;
    let qs = s * ACTIONS;
    let a = if r & 15 == 0 {
        ((r >> 4) % ACTIONS as u32) as usize
    } else {
        let start = ((r >> 8) % ACTIONS as u32) as usize;
        let mut a = start;
        for j in 1..ACTIONS {
            let k = (start + j) % ACTIONS;
            if q[qs + k] > q[qs + a] {
                a = k;
            }
        }
        a
    };
    let s2 = step_cell(s as i32, a);
    let reward = if is_food(s2) { FOOD / (occ[s2 as usize] + 1) } else { -STEP_COST };
    let qn = s2 as usize * ACTIONS;
    let best = q[qn..qn + ACTIONS].iter().copied().max().unwrap_or(0);
    let target = reward as i64 + ((best as i64 * 15) >> 4);
    q[qs + a] = q[qs + a].wrapping_add(((target - q[qs + a] as i64) >> 3) as i32);
    *pos = s2;
    reward
}
