//! One error type for the whole core: every failure is a value, never a panic.
use core::fmt;

/// Which caller-owned buffer an [`Error::BufferLength`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Buffer {
    /// The flat parameter buffer.
    Params,
    /// A training or inference scratch buffer.
    Scratch,
    /// The optimizer's state (momentum velocity).
    OptimizerState,
    /// A batch of inputs.
    Inputs,
    /// A batch of labels.
    Labels,
    /// An output buffer.
    Output,
    /// A weights blob's bytes.
    Blob,
}

/// Everything that can go wrong in the core; `Display` gives one line for a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// A buffer's length is not what the topology (and batch size) require.
    BufferLength {
        /// Which buffer.
        buffer: Buffer,
        /// The length required.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// A topology without layers.
    NoLayers,
    /// More layers than [`crate::sizes::MAX_LAYERS`] (the count given).
    TooManyLayers(usize),
    /// An input size or unit count of zero.
    ZeroSize,
    /// A dimension over [`crate::sizes::MAX_DIM`] or a total size that would overflow.
    TooLarge,
    /// Softmax is only allowed on the output layer.
    SoftmaxNotLast,
    /// Training needs a softmax output (it is fused with cross-entropy).
    OutputNotSoftmax,
    /// A label not below the number of classes.
    LabelOutOfRange {
        /// The label.
        label: u8,
        /// The output layer's width.
        classes: usize,
    },
    /// A trainer built for batches of zero samples.
    EmptyBatch,
    /// A batch larger than the trainer was built for.
    BatchTooLarge {
        /// Samples in the batch.
        batch: usize,
        /// The trainer's capacity.
        capacity: usize,
    },
    /// The batch loss was NaN or infinite; the parameters were left unchanged.
    NonFiniteLoss,
    /// The optimizer has momentum but was given no state buffer.
    MissingOptimizerState,
    /// A trainer was used with a network of another topology.
    TopologyMismatch,
    /// Optimizer settings out of range (Adam's betas outside [0, 1), a non-positive ε,
    /// a non-finite learning rate), or a switch between optimizers of different state.
    OptimizerSettings,
    /// The first trained layer of a trainer is not a layer of the topology.
    FirstTrainable {
        /// The index given.
        first: usize,
        /// Layers in the topology.
        layers: usize,
    },
    // --- weights format ---
    /// The bytes do not start with the weights format's magic.
    BadMagic,
    /// A format version this build does not read.
    UnsupportedVersion(u16),
    /// An element-type code this build does not know.
    UnknownElementType(u8),
    /// An activation code this build does not know.
    UnknownActivation(u8),
    /// The blob is shorter than its header says.
    Truncated {
        /// Bytes the blob needs.
        needed: usize,
        /// Bytes given.
        actual: usize,
    },
    /// The header's payload length disagrees with its topology.
    PayloadLength {
        /// The length the header states.
        header: usize,
        /// The length its topology implies.
        topology: usize,
    },
    /// The CRC-32 stored in the header is not that of the blob.
    CrcMismatch {
        /// The CRC in the header.
        stored: u32,
        /// The CRC of the bytes.
        computed: u32,
    },
    /// Reserved header bytes are not zero (written by a newer or broken writer).
    ReservedNotZero,
    /// A version-2 blob's input section (scaling, class names) is malformed.
    InputSection(&'static str),
    /// The blob holds a different element type than the caller asked for.
    ElementType,
    // --- int8 models (element types 1 and 2) ---
    /// An activation that int8 models do not support (sigmoid, tanh), by code.
    Int8Activation(u8),
    /// A quantization scale that is not a positive finite number. `tensor` 0 is the
    /// input, `tensor` i + 1 the output of layer i.
    QuantScale {
        /// Which tensor.
        tensor: usize,
    },
    /// A zero point outside -128..=127, or not 0 on the output layer (whose values are
    /// i32). `tensor` as for [`Error::QuantScale`].
    ZeroPoint {
        /// Which tensor.
        tensor: usize,
        /// The zero point found.
        value: i32,
    },
    /// A negative requantization multiplier.
    QuantMultiplier {
        /// Layer index.
        layer: usize,
        /// Unit within the layer.
        unit: usize,
        /// The multiplier found.
        value: i32,
    },
    /// A requantization shift over 31.
    QuantShift {
        /// Layer index.
        layer: usize,
        /// Unit within the layer.
        unit: usize,
        /// The shift found.
        shift: u8,
    },
    /// Quantizing: a layer's output was NaN or infinite on a calibration input.
    NonFiniteActivation {
        /// Layer index.
        layer: usize,
    },
    /// Quantizing: a bias too large for an i32 accumulator at its scale.
    QuantBias {
        /// Layer index.
        layer: usize,
        /// Unit within the layer.
        unit: usize,
    },
    /// Quantizing: a requantization multiplier outside [0, 1/2).
    MultiplierRange {
        /// Layer index.
        layer: usize,
        /// Unit within the layer.
        unit: usize,
    },
    /// Padding bytes of an int8 layer (after the shifts, or the zero row and column of
    /// odd sizes) are not zero.
    PaddingNotZero {
        /// Layer index.
        layer: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::BufferLength {
                buffer,
                expected,
                actual,
            } => write!(
                f,
                "{buffer:?} buffer has {actual} elements, the topology needs {expected}"
            ),
            Error::NoLayers => f.write_str("topology has no layers"),
            Error::TooManyLayers(n) => write!(
                f,
                "topology has {n} layers, at most {} are supported",
                crate::sizes::MAX_LAYERS
            ),
            Error::ZeroSize => f.write_str("input size and unit counts must be at least 1"),
            Error::TooLarge => write!(
                f,
                "a dimension exceeds {} or the network is too large to address",
                crate::sizes::MAX_DIM
            ),
            Error::SoftmaxNotLast => f.write_str("softmax is only allowed on the output layer"),
            Error::OutputNotSoftmax => f.write_str("training needs a softmax output layer"),
            Error::LabelOutOfRange { label, classes } => {
                write!(f, "label {label} is out of range for {classes} classes")
            }
            Error::EmptyBatch => f.write_str("batch is empty"),
            Error::BatchTooLarge { batch, capacity } => {
                write!(
                    f,
                    "batch of {batch} exceeds the scratch capacity of {capacity}"
                )
            }
            Error::NonFiniteLoss => f.write_str("loss is NaN or infinite (training diverged)"),
            Error::MissingOptimizerState => f.write_str("momentum needs an optimizer-state buffer"),
            Error::NonFiniteActivation { layer } => write!(
                f,
                "layer {layer} produced a value that is not finite (the model is not finite)"
            ),
            Error::QuantBias { layer, unit } => write!(
                f,
                "layer {layer} unit {unit}: the bias is too large for an i32 accumulator at its scale"
            ),
            Error::MultiplierRange { layer, unit } => write!(
                f,
                "layer {layer} unit {unit}: requantization multiplier out of range"
            ),
            Error::OptimizerSettings => write!(
                f,
                "optimizer settings out of range (betas in [0, 1), epsilon > 0, finite rate), \
                 or a change of optimizer kind"
            ),
            Error::FirstTrainable { first, layers } => write!(
                f,
                "the first trained layer ({first}) must be below the layer count ({layers})"
            ),
            Error::TopologyMismatch => {
                f.write_str("the network's topology differs from the trainer's")
            }
            Error::BadMagic => f.write_str("not a microdense weights blob (bad magic)"),
            Error::UnsupportedVersion(v) => write!(
                f,
                "weights format version {v} is not supported (this build reads {})",
                crate::format::FORMAT_VERSION
            ),
            Error::UnknownElementType(t) => write!(f, "unknown element type {t}"),
            Error::UnknownActivation(a) => write!(f, "unknown activation code {a}"),
            Error::Truncated { needed, actual } => {
                write!(f, "truncated: needs {needed} bytes, has {actual}")
            }
            Error::PayloadLength { header, topology } => write!(
                f,
                "payload length {header} disagrees with the topology ({topology} bytes)"
            ),
            Error::CrcMismatch { stored, computed } => write!(
                f,
                "CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
            Error::ReservedNotZero => f.write_str("reserved header bytes are not zero"),
            Error::InputSection(what) => write!(f, "input section: {what}"),
            Error::ElementType => f.write_str("blob element type does not match"),
            Error::Int8Activation(a) => write!(
                f,
                "activation code {a} is not supported in int8 models (linear, relu, softmax are)"
            ),
            Error::QuantScale { tensor: 0 } => {
                f.write_str("int8 input scale is not a positive finite number")
            }
            Error::QuantScale { tensor } => write!(
                f,
                "int8 output scale of layer {} is not a positive finite number",
                tensor - 1
            ),
            Error::ZeroPoint { tensor: 0, value } => {
                write!(f, "int8 input zero point {value} is out of range")
            }
            Error::ZeroPoint { tensor, value } => write!(
                f,
                "int8 zero point {value} of layer {} is out of range (-128..=127; 0 on the output layer)",
                tensor - 1
            ),
            Error::QuantMultiplier { layer, unit, value } => write!(
                f,
                "int8 layer {layer} unit {unit}: negative requantization multiplier {value}"
            ),
            Error::QuantShift { layer, unit, shift } => write!(
                f,
                "int8 layer {layer} unit {unit}: requantization shift {shift} is over 31"
            ),
            Error::PaddingNotZero { layer } => {
                write!(f, "int8 layer {layer}: padding bytes are not zero")
            }
        }
    }
}

/// So `?` turns it into any error type that wraps standard errors (`anyhow`, `Box<dyn
/// Error>`) without a conversion by hand.
impl core::error::Error for Error {}

#[cfg(test)]
mod tests {
    extern crate std;

    #[test]
    fn is_a_standard_error() {
        let e: std::boxed::Box<dyn core::error::Error> =
            std::boxed::Box::new(super::Error::NoLayers);
        assert_eq!(
            std::format!("{e}"),
            std::format!("{}", super::Error::NoLayers)
        );
    }
}
