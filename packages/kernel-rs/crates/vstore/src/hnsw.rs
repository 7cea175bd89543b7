//! Hierarchical navigable small-world graph (Malkov & Yashunin) over the collection's slots.
//! Layer 0 links are a flat `n × 2M` array of u32 (unused entries `EMPTY`); upper layers,
//! which about one node in M reaches, live in a second pool, found through a sparse index
//! sorted by node (nodes are added in slot order, so it stays sorted by pushing).
//! Levels come from a seeded RNG, so the same inserts build the same graph.
use alloc::collections::BinaryHeap;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::Cell;
use core::cmp::Ordering;

use crate::metric::Metric;
use crate::rng::Rng;

pub const EMPTY: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswParams {
    /// Links per node on upper layers (2M on layer 0).
    pub m: usize,
    /// Beam width while inserting.
    pub ef_construct: usize,
    /// Default beam width while searching (at least k is used).
    pub ef: usize,
    /// Seed of the level generator.
    pub seed: u64,
}

/// ef 256 by default: on uniform random 128-d data (no structure, the hardest case) M = 16
/// reaches recall@10 0.92 at ef 128 and 0.98 at 256 (examples/bench.rs).
impl Default for HnswParams {
    fn default() -> Self {
        HnswParams { m: 16, ef_construct: 200, ef: 256, seed: 0x7A25_5EED }
    }
}

impl HnswParams {
    pub fn valid(&self) -> bool {
        (2..=128).contains(&self.m) && (1..=4096).contains(&self.ef_construct) && (1..=4096).contains(&self.ef)
    }
}

/// The vectors a graph indexes and the distance counter of the current operation.
pub struct Space<'a> {
    pub vectors: &'a [f32],
    pub dim: usize,
    pub metric: Metric,
    pub count: Cell<u64>,
}

impl Space<'_> {
    #[inline]
    pub fn vector(&self, i: u32) -> &[f32] {
        let a = i as usize * self.dim;
        &self.vectors[a..a + self.dim]
    }
    #[inline]
    pub fn to(&self, q: &[f32], i: u32) -> f32 {
        self.count.set(self.count.get() + 1);
        self.metric.distance(q, self.vector(i))
    }
    #[inline]
    fn between(&self, a: u32, b: u32) -> f32 {
        self.count.set(self.count.get() + 1);
        self.metric.distance(self.vector(a), self.vector(b))
    }
}

#[derive(Clone, Copy, PartialEq)]
pub struct Scored(pub f32, pub u32);
impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scored {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.total_cmp(&o.0).then(self.1.cmp(&o.1))
    }
}
/// Reversed order: a min-heap on BinaryHeap.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Near(core::cmp::Reverse<Scored>);

pub struct Graph {
    pub params: HnswParams,
    level0: Vec<u32>,
    levels: Vec<u8>,
    /// (node, offset in `upper`) for the nodes above layer 0, sorted by node.
    upper_at: Vec<(u32, u32)>,
    upper: Vec<u32>,
    entry: u32,
    top: u8,
    rng: Rng,
}

struct Visited(Vec<u64>);
impl Visited {
    fn new(n: usize) -> Self {
        Visited(vec![0; n.div_ceil(64)])
    }
    /// Mark `i`; true if it was not marked before.
    #[inline]
    fn insert(&mut self, i: u32) -> bool {
        let (w, b) = (i as usize / 64, 1u64 << (i % 64));
        let new = self.0[w] & b == 0;
        self.0[w] |= b;
        new
    }
}

impl Graph {
    pub fn new(params: HnswParams) -> Self {
        Graph { params, level0: Vec::new(), levels: Vec::new(), upper_at: Vec::new(), upper: Vec::new(), entry: EMPTY, top: 0, rng: Rng::new(params.seed) }
    }
    pub fn len(&self) -> usize {
        self.levels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }
    fn m0(&self) -> usize {
        2 * self.params.m
    }
    fn cap(&self, layer: u8) -> usize {
        if layer == 0 {
            self.m0()
        } else {
            self.params.m
        }
    }
    pub fn bytes(&self) -> usize {
        self.level0.capacity() * 4 + self.levels.capacity() + self.upper_at.capacity() * 8 + self.upper.capacity() * 4
    }
    pub fn shrink_to_fit(&mut self) {
        self.level0.shrink_to_fit();
        self.levels.shrink_to_fit();
        self.upper_at.shrink_to_fit();
        self.upper.shrink_to_fit();
    }
    fn links(&self, i: u32, layer: u8) -> &[u32] {
        if layer == 0 {
            let a = i as usize * self.m0();
            &self.level0[a..a + self.m0()]
        } else {
            let a = self.upper_offset(i) + (layer as usize - 1) * self.params.m;
            &self.upper[a..a + self.params.m]
        }
    }
    fn links_mut(&mut self, i: u32, layer: u8) -> &mut [u32] {
        if layer == 0 {
            let m0 = self.m0();
            let a = i as usize * m0;
            &mut self.level0[a..a + m0]
        } else {
            let m = self.params.m;
            let a = self.upper_offset(i) + (layer as usize - 1) * m;
            &mut self.upper[a..a + m]
        }
    }
    fn upper_offset(&self, i: u32) -> usize {
        match self.upper_at.binary_search_by_key(&i, |e| e.0) {
            Ok(k) => self.upper_at[k].1 as usize,
            Err(_) => unreachable!("node {i} has no upper layers"),
        }
    }
    fn random_level(&mut self) -> u8 {
        // P(level >= l) = M^-l: the floor of an exponential with scale 1/ln(M).
        let p = 1.0 / self.params.m as f64;
        let mut l = 0u8;
        while l < 16 && self.rng.next_f64() < p {
            l += 1;
        }
        l
    }

    /// Add node `i` (the next slot: `i == len()`), its vector already in `space`.
    pub fn insert(&mut self, space: &Space, i: u32) {
        debug_assert_eq!(i as usize, self.len());
        let level = self.random_level();
        self.levels.push(level);
        if level > 0 {
            self.upper_at.push((i, self.upper.len() as u32));
        }
        self.upper.resize(self.upper.len() + level as usize * self.params.m, EMPTY);
        self.level0.resize(self.level0.len() + self.m0(), EMPTY);
        if self.entry == EMPTY {
            self.entry = i;
            self.top = level;
            return;
        }
        let q = space.vector(i);
        let mut ep = Scored(space.to(q, self.entry), self.entry);
        let mut layer = self.top;
        while layer > level {
            ep = self.greedy(space, q, ep, layer);
            layer -= 1;
        }
        let mut eps = vec![ep];
        loop {
            let found = self.search_layer(space, q, &eps, self.params.ef_construct, layer, &|_| true);
            let chosen = self.select(space, &found, self.cap(layer));
            let row = self.links_mut(i, layer);
            for (k, s) in chosen.iter().enumerate() {
                row[k] = s.1;
            }
            for s in &chosen {
                self.connect(space, s.1, i, s.0, layer);
            }
            eps = found;
            if layer == 0 {
                break;
            }
            layer -= 1;
        }
        if level > self.top {
            self.top = level;
            self.entry = i;
        }
    }

    /// Add `new` to `node`'s links on `layer`; when full, keep the heuristic's choice.
    fn connect(&mut self, space: &Space, node: u32, new: u32, d: f32, layer: u8) {
        let cap = self.cap(layer);
        let row = self.links_mut(node, layer);
        if let Some(slot) = row.iter().position(|&x| x == EMPTY) {
            row[slot] = new;
            return;
        }
        let existing: Vec<u32> = row.to_vec();
        let mut cands: Vec<Scored> = existing.iter().map(|&x| Scored(space.between(node, x), x)).collect();
        cands.push(Scored(d, new));
        cands.sort();
        let chosen = self.select(space, &cands, cap);
        let row = self.links_mut(node, layer);
        row.fill(EMPTY);
        for (k, s) in chosen.iter().enumerate() {
            row[k] = s.1;
        }
    }

    /// The neighbour-selection heuristic: take candidates nearest first, keeping one only if it
    /// is closer to the base than to every one already kept; fill up with the rest.
    fn select(&self, space: &Space, sorted: &[Scored], max: usize) -> Vec<Scored> {
        let mut kept: Vec<Scored> = Vec::with_capacity(max);
        let mut pruned = Vec::new();
        for &c in sorted {
            if kept.len() >= max {
                break;
            }
            if kept.iter().all(|r| space.between(c.1, r.1) > c.0) {
                kept.push(c);
            } else {
                pruned.push(c);
            }
        }
        for c in pruned {
            if kept.len() >= max {
                break;
            }
            kept.push(c);
        }
        kept
    }

    fn greedy(&self, space: &Space, q: &[f32], mut ep: Scored, layer: u8) -> Scored {
        loop {
            let mut moved = false;
            for &n in self.links(ep.1, layer) {
                if n == EMPTY {
                    break;
                }
                let d = space.to(q, n);
                if d < ep.0 {
                    ep = Scored(d, n);
                    moved = true;
                }
            }
            if !moved {
                return ep;
            }
        }
    }

    /// Beam search on one layer. Every node reached is traversed; only those `keep` accepts enter
    /// the result (at most `ef`, nearest first).
    fn search_layer(&self, space: &Space, q: &[f32], eps: &[Scored], ef: usize, layer: u8, keep: &dyn Fn(u32) -> bool) -> Vec<Scored> {
        let mut visited = Visited::new(self.len());
        let mut cand: BinaryHeap<Near> = BinaryHeap::new();
        let mut res: BinaryHeap<Scored> = BinaryHeap::new();
        for &e in eps {
            if visited.insert(e.1) {
                cand.push(Near(core::cmp::Reverse(e)));
                if keep(e.1) {
                    res.push(e);
                }
            }
        }
        while let Some(Near(core::cmp::Reverse(c))) = cand.pop() {
            if res.len() >= ef && res.peek().is_some_and(|w| c.0 > w.0) {
                break;
            }
            for &n in self.links(c.1, layer) {
                if n == EMPTY {
                    break;
                }
                if !visited.insert(n) {
                    continue;
                }
                let d = space.to(q, n);
                if res.len() < ef || res.peek().is_some_and(|w| d < w.0) {
                    cand.push(Near(core::cmp::Reverse(Scored(d, n))));
                    if keep(n) {
                        res.push(Scored(d, n));
                        if res.len() > ef {
                            res.pop();
                        }
                    }
                }
            }
        }
        res.into_sorted_vec()
    }

    /// The `ef` nearest nodes that `keep` accepts, nearest first (callers take the top k).
    pub fn search(&self, space: &Space, q: &[f32], ef: usize, keep: &dyn Fn(u32) -> bool) -> Vec<Scored> {
        if self.entry == EMPTY {
            return Vec::new();
        }
        let mut ep = Scored(space.to(q, self.entry), self.entry);
        let mut layer = self.top;
        while layer > 0 {
            ep = self.greedy(space, q, ep, layer);
            layer -= 1;
        }
        self.search_layer(space, q, &[ep], ef, 0, keep)
    }
}
