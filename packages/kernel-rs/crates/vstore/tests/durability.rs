//! The write-ahead log under crashes and hostile disks.
use vstore::wal::{LOG_START, MAGIC};
use vstore::{BlockDevice, CollectionParams, Error, MemDevice, Metric, Store, SECTOR};

const UUID: [u8; 16] = *b"vstore-test-uuid";

fn point(i: u64) -> (Vec<f32>, Vec<u8>) {
    let v: Vec<f32> = (0..8).map(|k| ((i * 31 + k) % 17) as f32 - 8.0 + 0.5).collect();
    (v, format!("{{\"n\":{i},\"tag\":\"t{}\"}}", i % 3).into_bytes())
}

fn fresh(sectors: u64) -> Store<MemDevice> {
    let mut s = Store::format(MemDevice::new(sectors), UUID).unwrap();
    s.create_collection("c", CollectionParams::new(8, Metric::L2)).unwrap();
    s
}

/// Run a stream of upserts (one every `batch`), crashing after `cut` bytes; returns the image
/// and the ids acknowledged.
fn run(base: &[u8], cut: u64, n: u64, batch: usize) -> (Vec<u8>, Vec<u64>) {
    run_on(base, cut, n, batch, false)
}

fn run_on(base: &[u8], cut: u64, n: u64, batch: usize, cache: bool) -> (Vec<u8>, Vec<u64>) {
    let mut dev = MemDevice::from_bytes(base.to_vec());
    if cache {
        dev.volatile_cache();
    }
    dev.crash_after(cut);
    let (mut s, _) = Store::open(dev).unwrap();
    let mut acked = Vec::new();
    let mut i = 0;
    while i < n {
        let ids: Vec<u64> = (i..(i + batch as u64).min(n)).collect();
        let pts: Vec<(Vec<f32>, Vec<u8>)> = ids.iter().map(|&j| point(j)).collect();
        let refs: Vec<(u64, &[f32], &[u8])> = ids.iter().zip(&pts).map(|(&j, (v, p))| (j, v.as_slice(), p.as_slice())).collect();
        match s.upsert_batch("c", &refs) {
            Ok(()) => acked.extend(ids),
            Err(e) => {
                assert_eq!(e, Error::Device(vstore::DeviceError::Io));
                break;
            }
        }
        i += batch as u64;
    }
    (s.into_device().into_image(), acked)
}

fn check_recovered(image: Vec<u8>, acked: &[u64], n: u64) -> Store<MemDevice> {
    let (s, _) = Store::open(MemDevice::from_bytes(image)).unwrap_or_else(|e| panic!("reopen failed: {e:?}"));
    let c = s.collection("c").unwrap();
    for &id in acked {
        let (v, p) = c.get(id).unwrap_or_else(|| panic!("acknowledged point {id} lost"));
        assert_eq!(v, &point(id).0[..]);
        assert_eq!(vstore::json::get(p.unwrap(), "n"), Some(&vstore::json::Value::Num(id as f64)));
    }
    // Nothing beyond the acknowledged points and the write in flight, and every point whole.
    let last = acked.last().map_or(0, |l| l + 1);
    for id in 0..n {
        if let Some((v, _)) = c.get(id) {
            assert!(id < last + 4, "point {id} appeared from nowhere");
            assert_eq!(v, &point(id).0[..], "torn point {id}");
        }
    }
    s
}

#[test]
fn crash_at_every_byte_keeps_every_acknowledged_point() {
    let base = fresh(256).into_device().into_image();
    let n = 12;
    let (_, all) = run(&base, u64::MAX, n, 1);
    assert_eq!(all.len(), n as usize);
    let total = {
        let mut d = MemDevice::from_bytes(base.clone());
        d.crash_after(u64::MAX);
        let (mut s, _) = Store::open(d).unwrap();
        for j in 0..n {
            let (v, p) = point(j);
            s.upsert("c", j, &v, &p).unwrap();
        }
        s.device().written
    };
    let mut cuts = 0;
    for cut in 0..=total {
        let (image, acked) = run(&base, cut, n, 1);
        let s = check_recovered(image, &acked, n);
        // The recovered store keeps working: more upserts, another crash-free reopen.
        let mut dev = s.into_device();
        dev.crash_after(u64::MAX);
        let (mut s, _) = Store::open(dev).unwrap();
        let (v, p) = point(100);
        s.upsert("c", 100, &v, &p).unwrap();
        let image = s.into_device().into_image();
        let s = check_recovered(image, &acked, n);
        assert!(s.collection("c").unwrap().get(100).is_some());
        cuts += 1;
    }
    eprintln!("crash points tried: {cuts} (every byte of {total} written)");
}

#[test]
fn with_a_volatile_write_cache_every_acknowledged_point_was_flushed() {
    let base = fresh(256).into_device().into_image();
    let n = 12;
    for cut in 0..=(n + 1) * SECTOR as u64 {
        let (image, acked) = run_on(&base, cut, n, 1, true);
        check_recovered(image, &acked, n);
    }
}

#[test]
fn crash_during_batches_is_all_or_nothing_per_acknowledgement() {
    let base = fresh(256).into_device().into_image();
    let n = 20;
    let total = 20 * 2 * SECTOR as u64;
    for cut in (0..=total).step_by(7) {
        let (image, acked) = run(&base, cut, n, 4);
        check_recovered(image, &acked, n);
    }
}

#[test]
fn a_torn_tail_is_dropped_and_reported() {
    let base = fresh(256).into_device().into_image();
    let (image, acked) = run(&base, 3 * SECTOR as u64 + 40, 10, 1);
    assert_eq!(acked.len(), 3);
    let (s, replay) = Store::open(MemDevice::from_bytes(image)).unwrap();
    assert_eq!(replay.records, 4); // the collection and three points
    assert!(replay.torn_sectors >= 1);
    assert_eq!(s.collection("c").unwrap().len(), 3);
    let (_, again) = Store::open(s.into_device()).unwrap();
    assert_eq!(again.torn_sectors, 0, "the torn sectors were zeroed");
}

#[test]
fn a_corrupted_middle_record_stops_replay_with_its_offset() {
    let mut s = fresh(256);
    for j in 0..10 {
        let (v, p) = point(j);
        s.upsert("c", j, &v, &p).unwrap();
    }
    let mut image = s.into_device().into_image();
    // Record 0 is the collection (one sector), then one point per sector.
    let victim = (LOG_START as usize + 1 + 4) * SECTOR;
    image[victim + 40] ^= 0x01;
    match Store::open(MemDevice::from_bytes(image.clone())) {
        Err(Error::RecordCorrupt { offset }) => assert_eq!(offset, victim as u64),
        other => panic!("expected RecordCorrupt, got {:?}", other.map(|(_, r)| r)),
    }
    // A corrupted header (length field) is caught the same way.
    image[victim + 40] ^= 0x01;
    image[victim + 2] ^= 0x40;
    assert!(matches!(Store::open(MemDevice::from_bytes(image)), Err(Error::RecordCorrupt { offset }) if offset == victim as u64));
}

#[test]
fn foreign_and_damaged_disks_are_refused() {
    let open = |img: Vec<u8>| Store::open(MemDevice::from_bytes(img)).map(|_| ()).unwrap_err();
    assert_eq!(open(vec![0; 256 * SECTOR]), Error::NotFormatted);
    let mut ext4 = vec![0u8; 256 * SECTOR];
    ext4[1024 + 56] = 0x53;
    ext4[1024 + 57] = 0xEF;
    ext4[0] = 0xEB; // a boot sector jump
    assert_eq!(open(ext4), Error::Foreign);
    let good = fresh(256).into_device().into_image();
    let mut bad = good.clone();
    bad[20] ^= 0xFF; // inside the UUID
    assert_eq!(open(bad), Error::SuperblockCorrupt);
    let mut v2 = good.clone();
    v2[8] = 2;
    let crc = vstore::crc::crc32(&v2[0..48]);
    v2[48..52].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(open(v2), Error::UnsupportedVersion(2));
    assert_eq!(open(good[..4 * SECTOR].to_vec()), Error::DeviceTooSmall);
    // A superblock claiming more sectors than the device has.
    assert_eq!(open(good[..64 * SECTOR].to_vec()), Error::SuperblockCorrupt);
    assert_eq!(&good[0..8], &MAGIC);
}

#[test]
fn random_garbage_never_panics() {
    let mut r = vstore::rng::Rng::new(99);
    let good = {
        let mut s = fresh(128);
        for j in 0..20 {
            let (v, p) = point(j);
            s.upsert("c", j, &v, &p).unwrap();
        }
        s.into_device().into_image()
    };
    for round in 0..400 {
        let mut img = good.clone();
        // Flip random bytes anywhere, superblock included on some rounds.
        for _ in 0..(1 + r.below(8)) {
            let lo = if round % 4 == 0 { 0 } else { LOG_START as usize * SECTOR };
            let at = lo + r.below((img.len() - lo) as u64) as usize;
            img[at] = r.next_u64() as u8;
        }
        let _ = Store::open(MemDevice::from_bytes(img));
        let noise: Vec<u8> = (0..128 * SECTOR).map(|_| r.next_u64() as u8).collect();
        let mut img = good[..LOG_START as usize * SECTOR].to_vec();
        img.extend_from_slice(&noise[LOG_START as usize * SECTOR..]);
        let _ = Store::open(MemDevice::from_bytes(img));
    }
}

#[test]
fn records_from_an_earlier_format_are_not_replayed() {
    let mut s = fresh(256);
    for j in 0..10 {
        let (v, p) = point(j);
        s.upsert("c", j, &v, &p).unwrap();
    }
    let mut dev = s.into_device();
    // Reformat with another UUID but leave the old log past the first sectors in place.
    let mut sb = [0u8; SECTOR];
    dev.read(0, &mut sb).unwrap();
    let s = Store::format(dev, *b"another-uuid-000").unwrap();
    let (s, replay) = Store::open(s.into_device()).unwrap();
    assert_eq!(replay.records, 0);
    assert_eq!(s.collections().count(), 0);
}

#[test]
fn bad_requests_are_refused_before_logging() {
    let mut s = fresh(256);
    let before = s.log_sectors();
    assert_eq!(s.upsert("c", 1, &[1.0; 7], b""), Err(Error::DimensionMismatch { expected: 8, got: 7 }));
    assert_eq!(s.upsert("c", 1, &[f32::NAN; 8], b""), Err(Error::BadVector));
    assert_eq!(s.upsert("c", 1, &[1.0; 8], b"{\"a\":[1]}"), Err(Error::BadPayload { at: 5 }));
    assert_eq!(s.upsert("nope", 1, &[1.0; 8], b""), Err(Error::NoSuchCollection));
    assert_eq!(s.create_collection("c", CollectionParams::new(8, Metric::L2)), Err(Error::CollectionExists));
    assert_eq!(s.create_collection("", CollectionParams::new(8, Metric::L2)), Err(Error::BadName));
    assert_eq!(s.create_collection("z", CollectionParams::new(0, Metric::L2)), Err(Error::BadDimension));
    let mut cos = CollectionParams::new(4, Metric::Cosine);
    s.create_collection("cos", cos).unwrap();
    assert_eq!(s.upsert("cos", 1, &[0.0; 4], b""), Err(Error::BadVector));
    cos.hnsw.m = 1;
    assert_eq!(s.create_collection("m1", cos), Err(Error::BadParams));
    assert_eq!(s.log_sectors(), before + 1);
    assert_eq!(s.delete("c", 42), Ok(false));
}

#[test]
fn deletes_and_replacements_survive_reopen_and_a_full_log_is_refused() {
    let mut s = fresh(LOG_START + 8 + 8);
    let (v, p) = point(1);
    s.upsert("c", 1, &v, &p).unwrap();
    s.upsert("c", 2, &v, &p).unwrap();
    s.upsert("c", 1, &point(5).0, b"{\"n\":5}").unwrap();
    assert_eq!(s.delete("c", 2), Ok(true));
    let (s, _) = Store::open(s.into_device()).unwrap();
    let c = s.collection("c").unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c.get(1).unwrap().0, &point(5).0[..]);
    assert!(c.get(2).is_none());
    let mut s = s;
    let mut err = None;
    for j in 10..40 {
        if let Err(e) = s.upsert("c", j, &v, &p) {
            err = Some(e);
            break;
        }
    }
    assert_eq!(err, Some(Error::LogFull));
}
