//! Search quality against brute force: recall@10 of HNSW at the default ef, filtered search
//! equal to a brute-force filter, distance computations per query counted and printed.
use vstore::json::{self, Value};
use vstore::rng::Rng;
use vstore::{Collection, CollectionParams, Condition, Filter, MatchValue, MemDevice, Metric, Store};

/// 10k×128 in release; a smaller set in debug builds, where 10k inserts take minutes.
fn size() -> usize {
    if cfg!(debug_assertions) {
        3000
    } else {
        10_000
    }
}

fn data(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut r = Rng::new(seed);
    (0..n * d).map(|_| r.next_f64() as f32 * 2.0 - 1.0).collect()
}

fn brute(metric: Metric, data: &[f32], d: usize, q: &[f32], k: usize, keep: impl Fn(usize) -> bool) -> Vec<usize> {
    let qn: Vec<f32> = if metric == Metric::Cosine { norm(q) } else { q.to_vec() };
    let mut all: Vec<(f32, usize)> = (0..data.len() / d)
        .filter(|&i| keep(i))
        .map(|i| {
            let v = &data[i * d..i * d + d];
            let dist = match metric {
                Metric::L2 => v.iter().zip(&qn).map(|(a, b)| (a - b) * (a - b)).sum::<f32>(),
                Metric::Dot => -v.iter().zip(&qn).map(|(a, b)| a * b).sum::<f32>(),
                Metric::Cosine => -norm(v).iter().zip(&qn).map(|(a, b)| a * b).sum::<f32>(),
            };
            (dist, i)
        })
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    all.into_iter().take(k).map(|x| x.1).collect()
}

fn norm(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

fn build(metric: Metric, n: usize, d: usize, seed: u64, payloads: Option<&[Vec<u8>]>) -> (Collection, Vec<f32>) {
    build_with(CollectionParams::new(d as u32, metric), n, seed, payloads)
}

fn build_with(p: CollectionParams, n: usize, seed: u64, payloads: Option<&[Vec<u8>]>) -> (Collection, Vec<f32>) {
    let d = p.dim as usize;
    let v = data(n, d, seed);
    let mut c = Collection::new(p).unwrap();
    for i in 0..n {
        let p = payloads.map_or(&b""[..], |p| &p[i]);
        let (pv, pp) = c.prepare(&v[i * d..i * d + d], p).unwrap();
        c.apply_upsert(i as u64, pv, pp);
    }
    (c, v)
}

fn recall(metric: Metric) -> (f64, f64) {
    let (n, d, nq, k) = (size(), 128, 100, 10);
    let (mut c, v) = build(metric, n, d, 42, None);
    c.shrink_to_fit();
    let per = c.memory_bytes() as f64 / n as f64;
    eprintln!("{metric:?}: {per:.1} bytes per stored vector at M = 16 (goal 4*d+150 = {})", 4 * d + 150);
    assert!(per <= (4 * d + 150) as f64, "{per} bytes per vector");
    assert!(c.has_graph());
    let queries = data(nq, d, 7);
    let (mut hits, mut dists) = (0usize, 0u64);
    for q in queries.chunks(d) {
        let (res, stats) = c.search(q, k, None, None, false).unwrap();
        assert!(stats.hnsw);
        dists += stats.distances;
        let truth = brute(metric, &v, d, q, k, |_| true);
        hits += res.iter().filter(|h| truth.contains(&(h.id as usize))).count();
    }
    (hits as f64 / (nq * k) as f64, dists as f64 / nq as f64)
}

#[test]
fn hnsw_recall_at_default_ef_l2() {
    let (r, dpq) = recall(Metric::L2);
    eprintln!("L2 {}x128 recall@10 = {r:.4}, {dpq:.0} distances/query (brute force: {})", size(), size());
    assert!(r >= 0.95, "recall {r}");
    // Fewer distances than brute force (at 10k, fewer than half; the debug set is 3000).
    assert!(dpq < size() as f64 * if size() == 10_000 { 0.5 } else { 1.0 }, "{dpq} distances per query");
}

#[test]
fn hnsw_recall_at_default_ef_cosine() {
    let (r, dpq) = recall(Metric::Cosine);
    eprintln!("cosine {}x128 recall@10 = {r:.4}, {dpq:.0} distances/query", size());
    assert!(r >= 0.95, "recall {r}");
}

#[test]
fn hnsw_recall_at_default_ef_dot() {
    let (r, dpq) = recall(Metric::Dot);
    eprintln!("dot {}x128 recall@10 = {r:.4}, {dpq:.0} distances/query", size());
    assert!(r >= 0.95, "recall {r}");
}

fn random_payloads(n: usize, seed: u64) -> Vec<Vec<u8>> {
    let colors = ["red", "green", "blue", "black", "white"];
    let mut r = Rng::new(seed);
    (0..n)
        .map(|_| {
            let mut s = format!("{{\"color\":\"{}\",\"n\":{},\"price\":{:.2}", colors[r.below(5) as usize], r.below(100), r.next_f64() * 100.0);
            if r.below(2) == 0 {
                s.push_str(",\"new\":true");
            }
            s.push('}');
            s.into_bytes()
        })
        .collect()
}

fn random_filter(r: &mut Rng) -> Filter {
    let colors = ["red", "green", "blue", "black", "white"];
    let kw = |c: &str| Condition::Match { key: "color".into(), value: MatchValue::Keyword(c.into()) };
    let mut f = Filter::default();
    match r.below(4) {
        0 => f.must.push(kw(colors[r.below(5) as usize])),
        1 => {
            let lo = r.next_f64() * 60.0;
            f.must.push(Condition::Range { key: "price".into(), gt: None, gte: Some(lo), lt: Some(lo + 40.0), lte: None });
        }
        2 => {
            f.should.push(kw(colors[r.below(5) as usize]));
            f.should.push(Condition::Match { key: "new".into(), value: MatchValue::Bool(true) });
        }
        _ => {}
    }
    if r.below(2) == 0 {
        f.must_not.push(Condition::Match { key: "n".into(), value: MatchValue::Integer(r.below(100) as i64) });
        f.must_not.push(kw(colors[r.below(5) as usize]));
    }
    f
}

fn passes(f: &Filter, payload: &[u8]) -> bool {
    // The brute-force side evaluates the filter independently of the store's Filter::matches.
    let p = json::parse(payload).unwrap();
    let cond = |c: &Condition| match c {
        Condition::Match { key, value } => match (json::get(&p, key), value) {
            (Some(Value::Str(s)), MatchValue::Keyword(k)) => s == k,
            (Some(Value::Num(x)), MatchValue::Integer(i)) => *x == *i as f64,
            (Some(Value::Bool(b)), MatchValue::Bool(v)) => b == v,
            _ => false,
        },
        Condition::Range { key, gt, gte, lt, lte } => match json::get(&p, key) {
            Some(Value::Num(x)) => gt.is_none_or(|b| *x > b) && gte.is_none_or(|b| *x >= b) && lt.is_none_or(|b| *x < b) && lte.is_none_or(|b| *x <= b),
            _ => false,
        },
    };
    f.must.iter().all(cond) && (f.should.is_empty() || f.should.iter().any(cond)) && !f.must_not.iter().any(cond)
}

#[test]
fn exact_filtered_search_equals_brute_force() {
    let (n, d, k) = (1500, 16, 10);
    let payloads = random_payloads(n, 3);
    let (c, v) = build(Metric::L2, n, d, 5, Some(&payloads));
    assert!(!c.has_graph());
    let mut r = Rng::new(11);
    let queries = data(200, d, 13);
    for q in queries.chunks(d) {
        let f = random_filter(&mut r);
        let (res, stats) = c.search(q, k, Some(&f), None, false).unwrap();
        assert!(!stats.hnsw);
        let truth = brute(Metric::L2, &v, d, q, k, |i| passes(&f, &payloads[i]));
        let got: Vec<usize> = res.iter().map(|h| h.id as usize).collect();
        assert_eq!(got, truth, "filter {f:?}");
    }
}

#[test]
fn hnsw_filtered_search_matches_brute_force_filter() {
    let (n, d, k, nq) = (size(), 32, 10, 200);
    let payloads = random_payloads(n, 3);
    let mut p = CollectionParams::new(d as u32, Metric::L2);
    p.flat_threshold = n / 5;
    let (c, v) = build_with(p, n, 5, Some(&payloads));
    assert!(c.has_graph());
    let mut r = Rng::new(11);
    let queries = data(nq, d, 13);
    let (mut hits, mut total, mut dists, mut graph) = (0, 0, 0u64, 0);
    for q in queries.chunks(d) {
        let f = random_filter(&mut r);
        let (res, stats) = c.search(q, k, Some(&f), None, false).unwrap();
        dists += stats.distances;
        graph += stats.hnsw as usize;
        let truth = brute(Metric::L2, &v, d, q, k, |i| passes(&f, &payloads[i]));
        for h in &res {
            assert!(passes(&f, &payloads[h.id as usize]), "hit {} fails {f:?}", h.id);
        }
        assert_eq!(res.len(), truth.len());
        hits += res.iter().filter(|h| truth.contains(&(h.id as usize))).count();
        total += truth.len();
    }
    let rc = hits as f64 / total as f64;
    eprintln!("filtered search {n}x{d}: recall@10 = {rc:.4} against brute-force filter, {:.0} distances/query, {graph}/{nq} queries through the graph", dists as f64 / nq as f64);
    assert!(graph >= nq / 2, "only {graph} of {nq} filtered queries used the graph");
    assert!(rc >= 0.95, "filtered recall {rc}");
}

#[test]
fn deleted_and_replaced_points_are_never_returned() {
    let (n, d) = (3000, 16);
    let (mut c, v) = build(Metric::L2, n, d, 21, None);
    for i in (0..n as u64).step_by(3) {
        assert!(c.apply_delete(i));
    }
    for i in (1..n as u64).step_by(3) {
        let (pv, pp) = c.prepare(&[9.0; 16], b"{\"moved\":true}").unwrap();
        c.apply_upsert(i, pv, pp);
    }
    let queries = data(50, d, 8);
    for q in queries.chunks(d) {
        let (res, _) = c.search(q, 10, None, None, false).unwrap();
        for h in &res {
            assert!(h.id % 3 == 2, "{} is deleted or moved far away", h.id);
        }
        let truth = brute(Metric::L2, &v, d, q, 10, |i| i % 3 == 2);
        let got: Vec<usize> = res.iter().map(|h| h.id as usize).collect();
        assert!(got.iter().filter(|g| truth.contains(g)).count() >= 8);
    }
    let (res, _) = c.search(&[9.0; 16], 5, None, None, true).unwrap();
    assert!(res.iter().all(|h| h.id % 3 == 1 && h.score == 0.0));
}

#[test]
fn the_store_switches_to_hnsw_above_its_threshold_and_rebuilds_it_on_reopen() {
    let d = 8;
    let mut s = Store::format(MemDevice::new(8192), *b"switch-test-uuid").unwrap();
    let mut p = CollectionParams::new(d as u32, Metric::Dot);
    p.flat_threshold = 300;
    s.create_collection("c", p).unwrap();
    let v = data(600, d, 1);
    for i in 0..600usize {
        s.upsert("c", i as u64, &v[i * d..i * d + d], b"").unwrap();
        assert_eq!(s.collection("c").unwrap().has_graph(), i + 1 > 300);
    }
    let q = &v[0..d];
    let before = s.collection("c").unwrap().search(q, 10, None, None, false).unwrap();
    let (s, replay) = Store::open(s.into_device()).unwrap();
    assert_eq!(replay.records, 601);
    let after = s.collection("c").unwrap().search(q, 10, None, None, false).unwrap();
    assert_eq!(before, after, "a seeded graph rebuilds the same");
}

#[test]
fn a_selective_filter_is_answered_exactly_over_the_points_that_pass() {
    let (n, d, k) = (size(), 32, 10);
    let payloads = random_payloads(n, 3);
    let (c, v) = build(Metric::L2, n, d, 5, Some(&payloads));
    assert!(c.has_graph());
    let queries = data(50, d, 17);
    for (qi, q) in queries.chunks(d).enumerate() {
        // About 1% of the points: "n" equals one value.
        let f = Filter { must: vec![Condition::Match { key: "n".into(), value: MatchValue::Integer(qi as i64) }], ..Default::default() };
        let (res, stats) = c.search(q, k, Some(&f), None, false).unwrap();
        assert!(!stats.hnsw);
        let matching = (0..n).filter(|&i| passes(&f, &payloads[i])).count() as u64;
        assert_eq!(stats.distances, matching);
        let truth = brute(Metric::L2, &v, d, q, k, |i| passes(&f, &payloads[i]));
        assert_eq!(res.iter().map(|h| h.id as usize).collect::<Vec<_>>(), truth);
    }
}
