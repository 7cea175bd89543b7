//! One collection: its points in slot order (vectors in one flat array), an id map, payloads,
//! and, above `flat_threshold` points, an HNSW graph over the slots. Replacing or deleting a
//! point leaves its old slot in the graph (still traversed) but dead (never returned).
use alloc::vec::Vec;
use core::cell::Cell;

use crate::error::Error;
use crate::filter::Filter;
use crate::hnsw::{Graph, HnswParams, Scored, Space};
use crate::idmap::IdMap;
use crate::json::{self, Payload};
use crate::metric::{normalize, Metric};

/// The largest dimension a collection takes.
pub const MAX_DIM: u32 = 65536;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CollectionParams {
    pub dim: u32,
    pub metric: Metric,
    pub hnsw: HnswParams,
    /// Exact search up to this many points; the HNSW graph is built when a collection grows past it.
    pub flat_threshold: usize,
}

impl CollectionParams {
    pub fn new(dim: u32, metric: Metric) -> Self {
        CollectionParams { dim, metric, hnsw: HnswParams::default(), flat_threshold: 2000 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: u64,
    /// Cosine similarity, dot product or Euclidean distance.
    pub score: f32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SearchStats {
    /// Vector distance computations this search made.
    pub distances: u64,
    /// Whether the HNSW graph answered (else an exact scan).
    pub hnsw: bool,
}

pub struct Collection {
    pub params: CollectionParams,
    vectors: Vec<f32>,
    ids: Vec<u64>,
    /// (slot, payload) for the points that have one, sorted by slot (slots only grow).
    payloads: Vec<(u32, Payload)>,
    live: Vec<u64>,
    live_count: usize,
    map: IdMap,
    graph: Option<Graph>,
}

impl Collection {
    pub fn new(params: CollectionParams) -> Result<Self, Error> {
        if params.dim == 0 || params.dim > MAX_DIM {
            return Err(Error::BadDimension);
        }
        if !params.hnsw.valid() {
            return Err(Error::BadParams);
        }
        Ok(Collection { params, vectors: Vec::new(), ids: Vec::new(), payloads: Vec::new(), live: Vec::new(), live_count: 0, map: IdMap::new(), graph: None })
    }

    pub fn len(&self) -> usize {
        self.live_count
    }
    pub fn is_empty(&self) -> bool {
        self.live_count == 0
    }
    pub fn has_graph(&self) -> bool {
        self.graph.is_some()
    }
    fn is_live(&self, slot: u32) -> bool {
        self.live[slot as usize / 64] & (1 << (slot % 64)) != 0
    }
    fn set_live(&mut self, slot: u32, on: bool) {
        let (w, b) = (slot as usize / 64, 1u64 << (slot % 64));
        if w >= self.live.len() {
            self.live.resize(w + 1, 0);
        }
        if on {
            self.live[w] |= b;
        } else {
            self.live[w] &= !b;
        }
    }

    /// Check a point before it is logged: the vector's dimension and values, the payload's JSON.
    /// Returns the vector as stored (normalised for cosine) and the parsed payload.
    pub fn prepare(&self, vector: &[f32], payload: &[u8]) -> Result<(Vec<f32>, Option<Payload>), Error> {
        if vector.len() != self.params.dim as usize {
            return Err(Error::DimensionMismatch { expected: self.params.dim, got: vector.len() as u32 });
        }
        if vector.iter().any(|x| !x.is_finite()) {
            return Err(Error::BadVector);
        }
        let mut v = vector.to_vec();
        if self.params.metric == Metric::Cosine && !normalize(&mut v) {
            return Err(Error::BadVector);
        }
        let p = json::parse(payload).map_err(|at| Error::BadPayload { at })?;
        Ok((v, if p.is_empty() { None } else { Some(p) }))
    }

    /// Insert or replace point `id` (a prepared vector and payload).
    pub fn apply_upsert(&mut self, id: u64, vector: Vec<f32>, payload: Option<Payload>) {
        if let Some(old) = self.map.get(id, &self.ids) {
            if self.is_live(old) {
                self.set_live(old, false);
                self.live_count -= 1;
            }
            self.drop_payload(old);
        }
        let slot = self.ids.len() as u32;
        self.vectors.extend_from_slice(&vector);
        self.ids.push(id);
        if let Some(p) = payload {
            self.payloads.push((slot, p));
        }
        self.set_live(slot, true);
        self.live_count += 1;
        self.map.set(id, slot, &self.ids);
        if let Some(g) = self.graph.as_mut() {
            let space = Space { vectors: &self.vectors, dim: self.params.dim as usize, metric: self.params.metric, count: Cell::new(0) };
            g.insert(&space, slot);
        } else if self.live_count > self.params.flat_threshold {
            self.build_graph();
        }
    }

    fn build_graph(&mut self) {
        let mut g = Graph::new(self.params.hnsw);
        let space = Space { vectors: &self.vectors, dim: self.params.dim as usize, metric: self.params.metric, count: Cell::new(0) };
        for s in 0..self.ids.len() as u32 {
            g.insert(&space, s);
        }
        self.graph = Some(g);
    }

    /// Remove point `id`; false if it was not there.
    pub fn apply_delete(&mut self, id: u64) -> bool {
        match self.map.get(id, &self.ids) {
            Some(slot) if self.is_live(slot) => {
                self.set_live(slot, false);
                self.drop_payload(slot);
                self.live_count -= 1;
                true
            }
            _ => false,
        }
    }

    pub fn get(&self, id: u64) -> Option<(&[f32], Option<&Payload>)> {
        let slot = self.map.get(id, &self.ids).filter(|&s| self.is_live(s))? as usize;
        let d = self.params.dim as usize;
        Some((&self.vectors[slot * d..slot * d + d], self.payload(slot as u32)))
    }

    fn payload(&self, slot: u32) -> Option<&Payload> {
        let k = self.payloads.binary_search_by_key(&slot, |e| e.0).ok()?;
        Some(&self.payloads[k].1).filter(|p| !p.is_empty())
    }

    fn drop_payload(&mut self, slot: u32) {
        if let Ok(k) = self.payloads.binary_search_by_key(&slot, |e| e.0) {
            self.payloads[k].1 = Payload::default();
        }
    }

    fn passes(&self, slot: u32, filter: Option<&Filter>) -> bool {
        if !self.is_live(slot) {
            return false;
        }
        match filter {
            None => true,
            Some(f) => f.matches(self.payload(slot).map_or(&[][..], |p| &p[..])),
        }
    }

    /// The `k` points nearest `query` that pass `filter`. `ef` overrides the collection's
    /// default beam width; `exact` forces a full scan. With a graph, a filter that at most
    /// `flat_threshold` points pass is answered by an exact scan of those points.
    pub fn search(&self, query: &[f32], k: usize, filter: Option<&Filter>, ef: Option<usize>, exact: bool) -> Result<(Vec<Hit>, SearchStats), Error> {
        let (q, _) = self.prepare(query, b"")?;
        let filter = filter.filter(|f| !f.is_empty());
        let space = Space { vectors: &self.vectors, dim: self.params.dim as usize, metric: self.params.metric, count: Cell::new(0) };
        let keep = |s: u32| self.passes(s, filter);
        let mut stats = SearchStats::default();
        // A filter that few points pass is answered exactly over those points: cheaper than a
        // beam that must traverse past many rejected nodes, and exact.
        let exact = exact
            || filter.is_some_and(|_| {
                let cap = self.params.flat_threshold.max(ef.unwrap_or(self.params.hnsw.ef).max(k));
                (0..self.ids.len() as u32).filter(|&s| keep(s)).take(cap + 1).count() <= cap
            });
        let found: Vec<Scored> = match (&self.graph, exact) {
            (Some(g), false) => {
                stats.hnsw = true;
                let ef = ef.unwrap_or(self.params.hnsw.ef).max(k);
                g.search(&space, &q, ef, &keep)
            }
            _ => {
                let mut all: Vec<Scored> = (0..self.ids.len() as u32).filter(|&s| keep(s)).map(|s| Scored(space.to(&q, s), s)).collect();
                all.sort();
                all
            }
        };
        stats.distances = space.count.get();
        let hits = found.into_iter().take(k).map(|s| Hit { id: self.ids[s.1 as usize], score: self.params.metric.score(s.0) }).collect();
        Ok((hits, stats))
    }

    /// Bytes held for points and index (capacities, payload contents excluded).
    pub fn memory_bytes(&self) -> usize {
        self.vectors.capacity() * 4
            + self.ids.capacity() * 8
            + self.payloads.capacity() * core::mem::size_of::<(u32, Payload)>()
            + self.live.capacity() * 8
            + self.map.bytes()
            + self.graph.as_ref().map_or(0, |g| g.bytes())
    }

    /// Give back spare capacity (after a bulk import).
    pub fn shrink_to_fit(&mut self) {
        self.vectors.shrink_to_fit();
        self.ids.shrink_to_fit();
        self.payloads.shrink_to_fit();
        self.live.shrink_to_fit();
        if let Some(g) = self.graph.as_mut() {
            g.shrink_to_fit();
        }
    }
}
