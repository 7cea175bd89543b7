//! recall@10 and distance computations per query at ef = 16…256 on seeded random 10k×128 (L2,
//! M = 16), against brute force in the same run, and memory per stored vector at M = 16.
//! `cargo run --release -p vstore --example bench [-- OUT_DIR]` also writes the data
//! (base.fvecs, query.fvecs, truth.ivecs) and its results (vstore.json) to OUT_DIR, for a
//! comparison with faiss.IndexHNSWFlat at the same M and ef on the same data.
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use vstore::rng::Rng;
use vstore::{Collection, CollectionParams, Metric};

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        // SAFETY: forwarding the caller's layout to the system allocator.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: `p` came from `alloc` above with this layout.
        unsafe { System.dealloc(p, l) }
    }
}
#[global_allocator]
static A: Counting = Counting;

fn data(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut r = Rng::new(seed);
    (0..n * d).map(|_| r.next_f64() as f32 * 2.0 - 1.0).collect()
}

fn write_vecs(path: &std::path::Path, d: usize, rows: &[u8], width: usize) {
    let mut out = Vec::new();
    for row in rows.chunks(d * width) {
        out.extend_from_slice(&(d as i32).to_le_bytes());
        out.extend_from_slice(row);
    }
    std::fs::write(path, out).unwrap();
}

fn main() {
    let (n, d, nq, k, m) = (10_000usize, 128usize, 500usize, 10usize, 16usize);
    let out_dir = std::env::args().nth(1).map(std::path::PathBuf::from);
    let base = data(n, d, 42);
    let queries = data(nq, d, 7);

    let t = Instant::now();
    let truth: Vec<Vec<usize>> = queries
        .chunks(d)
        .map(|q| {
            let mut all: Vec<(f32, usize)> = base.chunks(d).enumerate().map(|(i, v)| (vstore::metric::l2_squared(q, v), i)).collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            all.into_iter().take(k).map(|x| x.1).collect()
        })
        .collect();
    let brute_us = t.elapsed().as_secs_f64() * 1e6 / nq as f64;

    let mut p = CollectionParams::new(d as u32, Metric::L2);
    p.hnsw.m = m;
    p.flat_threshold = 0;
    let before = LIVE.load(Ordering::Relaxed);
    let t = Instant::now();
    let mut c = Collection::new(p).unwrap();
    for (i, v) in base.chunks(d).enumerate() {
        let (pv, pp) = c.prepare(v, b"").unwrap();
        c.apply_upsert(i as u64, pv, pp);
    }
    let build_s = t.elapsed().as_secs_f64();
    c.shrink_to_fit();
    let heap = LIVE.load(Ordering::Relaxed) - before;
    let per = heap as f64 / n as f64;
    println!("vstore HNSW, {n}x{d} uniform [-1,1) (seed 42), {nq} queries, L2, M={m}, ef_construct={}", p.hnsw.ef_construct);
    println!("build {build_s:.2} s; brute force {brute_us:.0} us/query, {n} distances/query (the baseline)");
    println!("memory per stored vector: {per:.1} B heap (goal 4*d+150 = {}), {:.1} B beyond the vector", 4 * d + 150, per - 4.0 * d as f64);
    println!("{:>5} {:>10} {:>16} {:>12} {:>14}", "ef", "recall@10", "distances/query", "vs brute", "us/query");
    let mut rows = Vec::new();
    for ef in [16usize, 32, 64, 128, 256] {
        let (mut hits, mut dists) = (0usize, 0u64);
        let t = Instant::now();
        for (qi, q) in queries.chunks(d).enumerate() {
            let (res, st) = c.search(q, k, None, Some(ef), false).unwrap();
            dists += st.distances;
            hits += res.iter().filter(|h| truth[qi].contains(&(h.id as usize))).count();
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / nq as f64;
        let recall = hits as f64 / (nq * k) as f64;
        let dpq = dists as f64 / nq as f64;
        println!("{ef:>5} {recall:>10.4} {dpq:>16.0} {:>11.3}x {us:>14.1}", dpq / n as f64);
        rows.push(format!("{{\"ef\":{ef},\"recall\":{recall},\"distances\":{dpq}}}"));
    }
    if let Some(dir) = out_dir {
        std::fs::create_dir_all(&dir).unwrap();
        let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        write_vecs(&dir.join("base.fvecs"), d, &bytes(&base), 4);
        write_vecs(&dir.join("query.fvecs"), d, &bytes(&queries), 4);
        let t: Vec<u8> = truth.iter().flatten().flat_map(|&i| (i as i32).to_le_bytes()).collect();
        write_vecs(&dir.join("truth.ivecs"), k, &t, 4);
        let json = format!("{{\"n\":{n},\"d\":{d},\"k\":{k},\"m\":{m},\"ef_construct\":{},\"bytes_per_vector\":{per},\"results\":[{}]}}\n", p.hnsw.ef_construct, rows.join(","));
        std::fs::write(dir.join("vstore.json"), json).unwrap();
        println!("data and results written to {}", dir.display());
    }
}
