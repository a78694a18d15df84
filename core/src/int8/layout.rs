//! Where everything lies in an int8 payload (docs/weights-format.md): the input's
//! quantization, then per layer its output quantization, i32 biases, i32 multipliers, u8
//! shifts (padded to 4 bytes) and the weights; and the scratch an inference needs.
//!
//! Weight order (see docs/weights-format.md): the `[in][out]` matrix taken two input rows
//! at a time, the two rows interleaved by pairs of columns, so one 32-bit word holds
//! `W[2k][2m], W[2k][2m+1], W[2k+1][2m], W[2k+1][2m+1]`. SXTB16 splits it into the
//! halfword pairs `(W[2k][2m], W[2k+1][2m])` and `(W[2k][2m+1], W[2k+1][2m+1])`, and SMLAD
//! multiplies each with the input pair `(x[2k], x[2k+1])` and adds both products into one
//! accumulator: four multiply-adds from one load and four instructions.
//!
//! Coding (element type 2, [`WeightCoding::EvenOffset`]): the even column of each pair is
//! stored in offset binary (`w ^ 0x80`), so SMLAD on the raw word sums both columns at
//! once (see [`WeightCoding`]); element type 1 stores every weight as is.
use super::QuantParams;
use crate::Layer;

/// How an int8 blob stores its weight bytes: the header's element type code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightCoding {
    /// Code 1 (blobs written before the offset coding): every weight as its i8 byte.
    Signed,
    /// Code 2 (what the writer writes): `W[i][j]` for even `j` stored as `W ^ 0x80`
    /// (`W + 128` read unsigned), odd `j` as is. Read as two signed halfwords, a weight
    /// word is then `(W[2k][2m] + 128) + 256 · W[2k][2m+1]` and its row-`2k+1` twin, so one
    /// SMLAD with the input pair gives `Σ x·W_even + 256 · Σ x·W_odd + 128 · Σ x`, and one
    /// SXTB16 (ROR 8) + SMLAD the odd column's sum: the even column's follows with two
    /// subtractions, exact modulo 2^32 as the wrapping reference sums.
    EvenOffset,
}

impl WeightCoding {
    /// The header's element type code.
    pub const fn code(self) -> u8 {
        match self {
            WeightCoding::Signed => 1,
            WeightCoding::EvenOffset => 2,
        }
    }

    /// The coding of element type `code` (1 or 2; `None` for others).
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(WeightCoding::Signed),
            2 => Some(WeightCoding::EvenOffset),
            _ => None,
        }
    }

    /// What to XOR a byte of column `j` with to get its i8 weight (and back).
    #[inline(always)]
    pub(crate) const fn mask(self, j: usize) -> u8 {
        match self {
            WeightCoding::EvenOffset if j.is_multiple_of(2) => 0x80,
            _ => 0,
        }
    }
}

/// Bytes before the first layer: input scale (f32) and zero point (i32).
pub(crate) const INPUT_PARAMS: usize = 8;

/// Where one layer's arrays lie in the payload. `pairs` input pairs (odd fan-ins get a
/// zero row) and `cols` columns (odd unit counts get a zero column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Section {
    pub fan_in: usize,
    pub units: usize,
    pub pairs: usize,
    pub cols: usize,
    /// Output scale (f32) and zero point (i32).
    pub params: usize,
    pub biases: usize,
    pub multipliers: usize,
    pub shifts: usize,
    pub weights: usize,
    pub end: usize,
}

const fn section(start: usize, fan_in: usize, units: usize) -> Section {
    let pairs = fan_in.div_ceil(2);
    let cols = units + units % 2;
    let biases = start + 8;
    let multipliers = biases + 4 * units;
    let shifts = multipliers + 4 * units;
    let weights = shifts + units.next_multiple_of(4);
    Section {
        fan_in,
        units,
        pairs,
        cols,
        params: start,
        biases,
        multipliers,
        shifts,
        weights,
        end: weights + 2 * pairs * cols,
    }
}

/// Section of layer `index` (fan-ins from `input` and the layers before it).
pub(crate) const fn section_of(input: usize, layers: &[Layer], index: usize) -> Section {
    let (mut start, mut fan_in, mut i) = (INPUT_PARAMS, input, 0);
    loop {
        let s = section(start, fan_in, layers[i].units);
        if i == index {
            return s;
        }
        start = s.end;
        fan_in = layers[i].units;
        i += 1;
    }
}

/// Payload bytes of an int8 blob for this topology.
pub const fn int8_payload_len(input: usize, layers: &[Layer]) -> usize {
    if layers.is_empty() {
        return INPUT_PARAMS;
    }
    section_of(input, layers, layers.len() - 1).end
}

/// Total bytes of an int8 blob for this topology.
pub const fn int8_blob_len(input: usize, layers: &[Layer]) -> usize {
    crate::format::HEADER_LEN + int8_payload_len(input, layers)
}

/// Scratch words (`u32`) for one int8 inference: the list of non-zero input pairs of the
/// widest layer input, then two activation buffers (two values per word).
pub const fn int8_scratch_len(input: usize, layers: &[Layer]) -> usize {
    let (mut widest_in, mut widest_out, mut fan_in, mut i) = (0, 0, input, 0);
    while i < layers.len() {
        if fan_in > widest_in {
            widest_in = fan_in;
        }
        if layers[i].units > widest_out {
            widest_out = layers[i].units;
        }
        fan_in = layers[i].units;
        i += 1;
    }
    int8_scratch_bound(widest_in, widest_out)
}

/// Scratch words enough for any int8 network whose inputs to every layer are at most
/// `fan_in` wide and whose layers have at most `units` units (firmware that runs models
/// it does not know at build time sizes its buffer by this).
pub const fn int8_scratch_bound(fan_in: usize, units: usize) -> usize {
    list_words(fan_in) + 2 * units.div_ceil(2)
}

/// Words of the gathered list for a layer input `fan_in` wide: two per pair, one padding
/// entry to make the count even, one sentinel entry.
pub(crate) const fn list_words(fan_in: usize) -> usize {
    2 * fan_in.div_ceil(2) + 4
}

/// Byte offset of `W[i][j]` within a layer's weights.
pub(crate) fn weight_offset(s: &Section, i: usize, j: usize) -> usize {
    (i / 2) * 2 * s.cols + (j / 2) * 4 + (i % 2) * 2 + j % 2
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    match bytes.get(at..at + 4) {
        Some(b) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        None => 0,
    }
}

pub(crate) fn i32_at(bytes: &[u8], at: usize) -> i32 {
    u32_at(bytes, at) as i32
}

pub(crate) fn f32_at(bytes: &[u8], at: usize) -> f32 {
    f32::from_bits(u32_at(bytes, at))
}

pub(crate) fn params_at(bytes: &[u8], at: usize) -> QuantParams {
    QuantParams {
        scale: f32_at(bytes, at),
        zero_point: i32_at(bytes, at + 4),
    }
}
