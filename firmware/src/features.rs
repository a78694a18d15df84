//! Raw-feature bundles (a CSV model's, bundle version 2): the test rows as the sensor
//! gives them, and the model's stored scaling, which the chip applies through core's
//! `logits_raw` exactly as the host did for the logits it bundled. In a pixel bundle
//! `WIDTH` is 0, so pixel builds carry none of these buffers (and the demos' raw-feature
//! branches, behind the constant `bundle::RAW_FEATURES`, compile away).
use microdense::{scaling::InputScaling, Blob};

use crate::bundle;

/// Values per raw test row: the model's input in a raw-feature bundle, else 0.
pub const WIDTH: usize = if bundle::RAW_FEATURES {
    bundle::PIXELS
} else {
    0
};

/// The model's scaling, copied out of its blob's input section (which need not be
/// 4-byte aligned in flash).
pub struct Scaling {
    offset: [f32; WIDTH],
    divisor: [f32; WIDTH],
}

impl Scaling {
    /// The blob's scaling; `None` when it stores none or is not `WIDTH` inputs wide.
    pub fn of(blob: &Blob<'_>) -> Option<Scaling> {
        let section = blob.input_section().ok()??;
        if blob.topology().input() != WIDTH {
            return None;
        }
        let mut s = Scaling {
            offset: [0.0; WIDTH],
            divisor: [1.0; WIDTH],
        };
        for (j, (m, d)) in s.offset.iter_mut().zip(&mut s.divisor).enumerate() {
            (*m, *d) = (section.offset(j), section.divisor(j));
        }
        Some(s)
    }

    /// The scaling as core takes it.
    pub fn view(&self) -> InputScaling<'_> {
        InputScaling {
            offset: &self.offset,
            divisor: &self.divisor,
        }
    }
}

/// Test row `i`'s raw values (NaN past the bundled rows).
pub fn test_row(i: usize, out: &mut [f32; WIDTH]) {
    for (j, v) in out.iter_mut().enumerate() {
        let at = 4 * (i * WIDTH + j);
        *v = match bundle::TEST_FEATURES.get(at..at + 4) {
            Some(&[a, b, c, d]) => f32::from_le_bytes([a, b, c, d]),
            _ => f32::NAN,
        };
    }
}
