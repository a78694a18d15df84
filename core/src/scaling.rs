//! The input scaling a model carries: raw sensor values to network inputs, the same
//! bits on a PC and a chip.
use crate::error::{Buffer, Error};

/// Per-feature scaling `x' = (x - offset[j]) / divisor[j]`, in f32. A division, not a
/// multiplication by the reciprocal: pixels over 255 then give the same bits as the
/// `p / 255.0` the IDX data path has always used.
#[derive(Debug, Clone, Copy)]
pub struct InputScaling<'a> {
    pub offset: &'a [f32],
    pub divisor: &'a [f32],
}

impl InputScaling<'_> {
    /// Features per example.
    pub fn width(&self) -> usize {
        self.offset.len()
    }

    /// Scales `raw` (whole examples, end to end) into `out` of the same length.
    pub fn apply(&self, raw: &[f32], out: &mut [f32]) -> Result<(), Error> {
        let w = self.offset.len();
        if self.divisor.len() != w || raw.len().checked_rem(w) != Some(0) {
            return Err(Error::BufferLength {
                buffer: Buffer::Inputs,
                expected: w,
                actual: raw.len(),
            });
        }
        if out.len() != raw.len() {
            return Err(Error::BufferLength {
                buffer: Buffer::Output,
                expected: raw.len(),
                actual: out.len(),
            });
        }
        for (o, r) in out.chunks_exact_mut(w).zip(raw.chunks_exact(w)) {
            for (((y, &x), &m), &d) in o.iter_mut().zip(r).zip(self.offset).zip(self.divisor) {
                *y = (x - m) / d;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_each_feature_and_checks_lengths() {
        let s = InputScaling {
            offset: &[1.0, 0.0],
            divisor: &[2.0, 255.0],
        };
        let mut out = [0.0; 4];
        s.apply(&[3.0, 51.0, 1.0, 255.0], &mut out).unwrap();
        assert_eq!(out, [1.0, 0.2, 0.0, 1.0]);
        assert!(s.apply(&[1.0, 2.0, 3.0], &mut out[..3]).is_err());
        assert!(s.apply(&[1.0, 2.0], &mut out).is_err());
    }
}
