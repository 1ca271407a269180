//! The on-disk frame: `len u32 | crc32c u32 | kind u8 | run_id [16] | seq u32 | payload`.
//! `len` counts everything after the 8-byte header; the CRC covers the same bytes.

use ulid::Ulid;

pub(crate) const HEADER: usize = 8;
/// kind + run id + seq.
pub(crate) const BODY_PREFIX: usize = 1 + 16 + 4;

/// What a record is; unknown kinds come from a newer tether and are skipped on read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Started,
    Turn,
    Ended,
    /// The run was evicted on purpose: at open it is forgotten, not reported lost.
    Tombstone,
    /// The journal's own: closes a sealed segment (run id nil, payload its length
    /// before this frame), so a shortened segment can be told from a whole one.
    Seal,
    Unknown(u8),
}

impl Kind {
    /// The kind's code, as the journal frames and the PostgreSQL store's rows carry it.
    pub fn code(self) -> u8 {
        self.to_byte()
    }

    pub fn from_code(code: u8) -> Kind {
        Kind::from_byte(code)
    }

    fn to_byte(self) -> u8 {
        match self {
            Kind::Started => 1,
            Kind::Turn => 2,
            Kind::Ended => 3,
            Kind::Tombstone => 4,
            Kind::Seal => 5,
            Kind::Unknown(b) => b,
        }
    }

    fn from_byte(b: u8) -> Kind {
        match b {
            1 => Kind::Started,
            2 => Kind::Turn,
            3 => Kind::Ended,
            4 => Kind::Tombstone,
            5 => Kind::Seal,
            other => Kind::Unknown(other),
        }
    }
}

/// The frame that seals a segment of `len` bytes.
pub(crate) fn seal(len: u64, out: &mut Vec<u8>) {
    let record = Record { kind: Kind::Seal, run_id: Ulid::nil(), seq: 0, payload: len.to_le_bytes().to_vec() };
    encode(&record, out);
}

/// The length a seal frame vouches for.
pub(crate) fn sealed_len(record: &RecordRef<'_>) -> Option<u64> {
    Some(u64::from_le_bytes(record.payload.try_into().ok()?))
}

/// One record of one run, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: Kind,
    pub run_id: Ulid,
    /// Position of this record within its run, from 0.
    pub seq: u32,
    pub payload: Vec<u8>,
}

impl Record {
    pub fn as_ref(&self) -> RecordRef<'_> {
        RecordRef { kind: self.kind, run_id: self.run_id, seq: self.seq, payload: &self.payload }
    }
}

/// A record as it lies in a buffer. Decoding lends the payload, so a scan (boot,
/// compaction) or a read into a reply copies only what it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub kind: Kind,
    pub run_id: Ulid,
    pub seq: u32,
    pub payload: &'a [u8],
}

impl RecordRef<'_> {
    pub fn to_record(&self) -> Record {
        Record { kind: self.kind, run_id: self.run_id, seq: self.seq, payload: self.payload.to_vec() }
    }
}

/// The bytes `encode` writes for `record`.
pub(crate) fn encoded_len(record: &Record) -> usize {
    HEADER + BODY_PREFIX + record.payload.len()
}

pub(crate) fn encode(record: &Record, out: &mut Vec<u8>) {
    let len = (BODY_PREFIX + record.payload.len()) as u32;
    let start = out.len();
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.push(record.kind.to_byte());
    out.extend_from_slice(&record.run_id.to_bytes());
    out.extend_from_slice(&record.seq.to_le_bytes());
    out.extend_from_slice(&record.payload);
    let crc = crc32c::crc32c(&out[start + HEADER..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// What the bytes at one offset hold.
#[derive(Debug)]
pub(crate) enum Decoded<'a> {
    Frame {
        record: RecordRef<'a>,
        len: usize,
    },
    /// The frame runs past the end of the data: a torn write.
    Incomplete,
    /// A complete frame whose checksum does not match; `len` is its claimed size.
    Corrupt {
        len: usize,
        run_id: Option<Ulid>,
    },
}

pub(crate) fn decode(buf: &[u8], max_body: usize) -> Decoded<'_> {
    if buf.len() < HEADER {
        return Decoded::Incomplete;
    }
    let body_len = u32::from_le_bytes(buf[0..4].try_into().unwrap()) as usize;
    if !(BODY_PREFIX..=max_body).contains(&body_len) {
        // A length no writer produces: the header itself is damaged (or zero-filled).
        return Decoded::Corrupt { len: HEADER, run_id: None };
    }
    if buf.len() < HEADER + body_len {
        return Decoded::Incomplete;
    }
    let crc = u32::from_le_bytes(buf[4..8].try_into().unwrap());
    let body = &buf[HEADER..HEADER + body_len];
    let run_id = Ulid::from_bytes(body[1..17].try_into().unwrap());
    if crc32c::crc32c(body) != crc {
        return Decoded::Corrupt { len: HEADER + body_len, run_id: Some(run_id) };
    }
    let record = RecordRef {
        kind: Kind::from_byte(body[0]),
        run_id,
        seq: u32::from_le_bytes(body[17..21].try_into().unwrap()),
        payload: &body[BODY_PREFIX..],
    };
    Decoded::Frame { record, len: HEADER + body_len }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record { kind: Kind::Turn, run_id: Ulid::new(), seq: 7, payload: br#"{"record":"turn"}"#.to_vec() }
    }

    #[test]
    fn round_trip() {
        let mut buf = Vec::new();
        encode(&sample(), &mut buf);
        match decode(&buf, 1 << 20) {
            Decoded::Frame { record, len } => {
                assert_eq!(len, buf.len());
                assert_eq!(record.payload, sample().payload);
                assert_eq!(record.seq, 7);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_truncation_is_incomplete_and_every_bit_flip_is_caught() {
        let mut buf = Vec::new();
        encode(&sample(), &mut buf);
        for cut in 0..buf.len() {
            assert!(matches!(decode(&buf[..cut], 1 << 20), Decoded::Incomplete), "cut at {cut}");
        }
        for bit in 0..buf.len() * 8 {
            let mut flipped = buf.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let decoded = decode(&flipped, 1 << 20);
            assert!(!matches!(decoded, Decoded::Frame { .. }), "bit {bit} went unnoticed");
        }
    }
}
