//! What a chip tells the host about the weights it trained: their digest, the CRC-32
//! (ISO-HDLC, as zlib's) of the parameters' little-endian f32 bytes, which a host replay
//! of the same steps must match bit for bit; and the trained model itself as a blob
//! written in pieces (the header, then the parameters a chunk at a time), for a chip with
//! no room for a second copy of its weights.
use crate::format::{f32_header, CRC, HEADER_LEN};
use crate::{Error, Topology};

/// Parameters converted to bytes this many at a time (a 256-byte stack buffer).
const CHUNK: usize = 64;

/// Feeds the little-endian bytes of `parts` (in order) to `f`, a chunk at a time.
fn for_each_chunk(parts: &[&[f32]], mut f: impl FnMut(&[u8]) -> bool) -> bool {
    let mut bytes = [0u8; 4 * CHUNK];
    for part in parts {
        for chunk in part.chunks(CHUNK) {
            for (b, p) in bytes.chunks_exact_mut(4).zip(chunk) {
                b.copy_from_slice(&p.to_le_bytes());
            }
            if !f(&bytes[..4 * chunk.len()]) {
                return false;
            }
        }
    }
    true
}

/// The digest of parameters held in `parts` (e.g. the frozen layers' in flash, then the
/// trained ones' in RAM): CRC-32 of their f32 bytes, as if they were one slice.
pub fn params_crc(parts: &[&[f32]]) -> u32 {
    let mut digest = CRC.digest();
    for_each_chunk(parts, |b| {
        digest.update(b);
        true
    });
    digest.finalize()
}

/// Why [`write_blob_parts`] stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum WriteError<E> {
    /// The parameters do not fit the topology.
    Blob(Error),
    /// The sink failed.
    Sink(E),
}

/// Writes the f32 blob of `topology` whose parameters are `parts` (in order) to `sink`,
/// the same bytes as [`crate::format::write_blob`], without a buffer for them: the header
/// ([`f32_header`], a first pass over the parameters for the CRC), then the parameters a
/// chunk at a time. Returns the blob's length.
pub fn write_blob_parts<E>(
    topology: &Topology,
    parts: &[&[f32]],
    mut sink: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<usize, WriteError<E>> {
    let header = f32_header(topology, parts).map_err(WriteError::Blob)?;
    sink(&header).map_err(WriteError::Sink)?;
    let mut failed = None;
    for_each_chunk(parts, |b| match sink(b) {
        Ok(()) => true,
        Err(e) => {
            failed = Some(e);
            false
        }
    });
    match failed {
        Some(e) => Err(WriteError::Sink(e)),
        None => Ok(HEADER_LEN + 4 * topology.params_len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{write_blob, Blob};
    use crate::Activation::*;
    use crate::Layer;

    #[test]
    fn params_crc_is_crc32_of_the_f32_bytes_across_parts() {
        // The check value of CRC-32/ISO-HDLC for "12345678" (zlib.crc32).
        let a = f32::from_le_bytes(*b"1234");
        let b = f32::from_le_bytes(*b"5678");
        assert_eq!(params_crc(&[&[a, b]]), 0x9AE0_DAAF);
        assert_eq!(params_crc(&[&[a], &[], &[b]]), 0x9AE0_DAAF);
        // More than a chunk, split anywhere: the same digest.
        let many: [f32; 150] = core::array::from_fn(|i| i as f32 * 0.37 - 9.0);
        let whole = params_crc(&[&many]);
        assert_eq!(params_crc(&[&many[..63], &many[63..]]), whole);
        let mut changed = many;
        changed[149] = f32::from_bits(changed[149].to_bits() ^ 1);
        assert_ne!(params_crc(&[&changed]), whole);
    }

    #[test]
    fn written_in_parts_the_blob_is_write_blobs() {
        const LAYERS: [Layer; 2] = [Layer::new(20, Relu), Layer::new(3, Softmax)];
        const LEN: usize = crate::sizes::blob_len(5, &LAYERS);
        let t = Topology::new(5, &LAYERS).unwrap();
        let params: [f32; crate::sizes::params_len(5, &LAYERS)] =
            core::array::from_fn(|i| (i as f32).sin());
        let mut whole = [0u8; LEN];
        write_blob(&t, &params, &mut whole).unwrap();
        let mut streamed = [0u8; LEN];
        let mut at = 0;
        let n = write_blob_parts(&t, &[&params[..70], &params[70..]], |b: &[u8]| {
            streamed[at..at + b.len()].copy_from_slice(b);
            at += b.len();
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!((n, at), (LEN, LEN));
        assert_eq!(streamed, whole);
        assert!(Blob::parse(&streamed).is_ok());
        // Wrong length, or a failing sink: errors, not panics.
        let short = write_blob_parts(&t, &[&params[1..]], |_| Ok::<(), ()>(()));
        assert!(matches!(short, Err(WriteError::Blob(_))));
        let mut calls = 0;
        let failing = write_blob_parts(&t, &[&params], |_| {
            calls += 1;
            if calls == 2 {
                Err("disk full")
            } else {
                Ok(())
            }
        });
        assert_eq!(failing, Err(WriteError::Sink("disk full")));
        assert_eq!(calls, 2);
    }
}
