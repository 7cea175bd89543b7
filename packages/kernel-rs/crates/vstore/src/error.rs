use crate::device::DeviceError;

/// Everything the store can refuse. Opening a foreign, corrupted or unformatted disk answers
/// one of these, never a panic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    Device(DeviceError),
    /// Sector 0 is all zeros: no store was ever formatted here.
    NotFormatted,
    /// Sector 0 does not carry the store's magic: another format's disk.
    Foreign,
    /// A store of a later (or unknown) format version.
    UnsupportedVersion(u32),
    /// The superblock's magic is right but its checksum is not.
    SuperblockCorrupt,
    /// The device is too small for a superblock and a log.
    DeviceTooSmall,
    /// A record in the middle of the log fails its checksum (whole records follow it): replay
    /// stops here; `offset` is the record's byte offset on the device.
    RecordCorrupt { offset: u64 },
    /// A record whose checksum is right but whose contents do not decode (or do not apply).
    RecordMalformed { offset: u64 },
    /// The log has reached the end of the device.
    LogFull,
    NoSuchCollection,
    CollectionExists,
    /// Collection names are 1..=255 bytes of UTF-8.
    BadName,
    /// Dimension 0 or above `MAX_DIM`.
    BadDimension,
    DimensionMismatch { expected: u32, got: u32 },
    /// A NaN or infinite component, or a zero vector in a cosine collection.
    BadVector,
    /// The payload is not a flat JSON object; the byte offset of the problem.
    BadPayload { at: usize },
    /// HNSW parameters out of range.
    BadParams,
    /// A record larger than the log accepts.
    TooLarge,
}

impl From<DeviceError> for Error {
    fn from(e: DeviceError) -> Self {
        Error::Device(e)
    }
}
