//! The store: collections rebuilt from the write-ahead log at open, every change logged and
//! flushed before it is applied and acknowledged.
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::collection::{Collection, CollectionParams};
use crate::device::BlockDevice;
use crate::error::Error;
use crate::record::{encode_upsert, Record};
use crate::wal::{Log, Replay};

pub use crate::wal::Replay as Recovery;

pub struct Store<D: BlockDevice> {
    dev: D,
    log: Log,
    collections: BTreeMap<String, Collection>,
}

fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.len() > 255 {
        return Err(Error::BadName);
    }
    Ok(())
}

impl<D: BlockDevice> Store<D> {
    /// Make `dev` an empty store with format UUID `uuid` (erasing what it held).
    pub fn format(mut dev: D, uuid: [u8; 16]) -> Result<Self, Error> {
        let log = Log::format(&mut dev, uuid)?;
        Ok(Store { dev, log, collections: BTreeMap::new() })
    }

    /// Open the store on `dev`, replaying its log.
    pub fn open(mut dev: D) -> Result<(Self, Replay), Error> {
        let mut collections: BTreeMap<String, Collection> = BTreeMap::new();
        let (log, replay) = Log::open(&mut dev, |_, body| match Record::decode(body) {
            Some(r) => apply(&mut collections, r).is_ok(),
            None => false,
        })?;
        Ok((Store { dev, log, collections }, replay))
    }

    pub fn device(&self) -> &D {
        &self.dev
    }
    pub fn into_device(self) -> D {
        self.dev
    }
    pub fn uuid(&self) -> [u8; 16] {
        self.log.sb.uuid
    }
    /// Sectors of the device the log uses so far.
    pub fn log_sectors(&self) -> u64 {
        self.log.next_sector
    }

    pub fn collection(&self, name: &str) -> Option<&Collection> {
        self.collections.get(name)
    }
    pub fn collection_mut(&mut self, name: &str) -> Option<&mut Collection> {
        self.collections.get_mut(name)
    }
    pub fn collections(&self) -> impl Iterator<Item = (&String, &Collection)> {
        self.collections.iter()
    }

    pub fn create_collection(&mut self, name: &str, params: CollectionParams) -> Result<(), Error> {
        check_name(name)?;
        if self.collections.contains_key(name) {
            return Err(Error::CollectionExists);
        }
        let c = Collection::new(params)?;
        let mut body = Vec::new();
        Record::Create { name: String::from(name), params }.encode(&mut body);
        self.log.append(&mut self.dev, &[&body])?;
        self.collections.insert(String::from(name), c);
        Ok(())
    }

    /// Insert or replace a point; returns once it is on the disk.
    pub fn upsert(&mut self, name: &str, id: u64, vector: &[f32], payload: &[u8]) -> Result<(), Error> {
        self.upsert_batch(name, &[(id, vector, payload)])
    }

    /// Insert or replace several points with one write and one flush; all are acknowledged
    /// together or none is.
    pub fn upsert_batch(&mut self, name: &str, points: &[(u64, &[f32], &[u8])]) -> Result<(), Error> {
        let c = self.collections.get(name).ok_or(Error::NoSuchCollection)?;
        let mut prepared = Vec::with_capacity(points.len());
        let mut bodies: Vec<Vec<u8>> = Vec::with_capacity(points.len());
        for &(id, v, p) in points {
            prepared.push((id, c.prepare(v, p)?));
            let mut b = Vec::new();
            encode_upsert(&mut b, name, id, v, p);
            bodies.push(b);
        }
        let refs: Vec<&[u8]> = bodies.iter().map(|b| b.as_slice()).collect();
        self.log.append(&mut self.dev, &refs)?;
        let c = self.collections.get_mut(name).ok_or(Error::NoSuchCollection)?;
        for (id, (v, p)) in prepared {
            c.apply_upsert(id, v, p);
        }
        Ok(())
    }

    /// Delete a point; Ok(false) if it was not there (nothing is logged then).
    pub fn delete(&mut self, name: &str, id: u64) -> Result<bool, Error> {
        let c = self.collections.get(name).ok_or(Error::NoSuchCollection)?;
        if c.get(id).is_none() {
            return Ok(false);
        }
        let mut body = Vec::new();
        Record::Delete { name: String::from(name), id }.encode(&mut body);
        self.log.append(&mut self.dev, &[&body])?;
        Ok(self.collections.get_mut(name).is_some_and(|c| c.apply_delete(id)))
    }
}

/// Apply one replayed record (the same checks as the live path).
fn apply(collections: &mut BTreeMap<String, Collection>, r: Record) -> Result<(), Error> {
    match r {
        Record::Create { name, params } => {
            check_name(&name)?;
            if collections.contains_key(&name) {
                return Err(Error::CollectionExists);
            }
            collections.insert(name, Collection::new(params)?);
        }
        Record::Upsert { name, id, vector, payload } => {
            let c = collections.get_mut(&name).ok_or(Error::NoSuchCollection)?;
            let (v, p) = c.prepare(&vector, &payload)?;
            c.apply_upsert(id, v, p);
        }
        Record::Delete { name, id } => {
            let c = collections.get_mut(&name).ok_or(Error::NoSuchCollection)?;
            c.apply_delete(id);
        }
    }
    Ok(())
}
