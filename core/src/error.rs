//! One error type for the whole core: every failure is a value, never a panic.
use core::fmt;

/// Which caller-owned buffer an [`Error::BufferLength`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Buffer {
    Params,
    Scratch,
    OptimizerState,
    Inputs,
    Labels,
    Output,
    Blob,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// A buffer's length is not what the topology (and batch size) require.
    BufferLength {
        buffer: Buffer,
        expected: usize,
        actual: usize,
    },
    NoLayers,
    TooManyLayers(usize),
    /// An input size or unit count of zero.
    ZeroSize,
    /// A dimension over [`crate::MAX_DIM`] or a total size that would overflow.
    TooLarge,
    /// Softmax is only allowed on the output layer.
    SoftmaxNotLast,
    /// Training needs a softmax output (it is fused with cross-entropy).
    OutputNotSoftmax,
    LabelOutOfRange {
        label: u8,
        classes: usize,
    },
    EmptyBatch,
    BatchTooLarge {
        batch: usize,
        capacity: usize,
    },
    /// The batch loss was NaN or infinite; the parameters were left unchanged.
    NonFiniteLoss,
    /// The optimizer has momentum but was given no state buffer.
    MissingOptimizerState,
    /// A trainer was used with a network of another topology.
    TopologyMismatch,
    // --- weights format ---
    BadMagic,
    UnsupportedVersion(u16),
    UnknownElementType(u8),
    UnknownActivation(u8),
    /// The blob is shorter than its header says.
    Truncated {
        needed: usize,
        actual: usize,
    },
    /// The header's payload length disagrees with its topology.
    PayloadLength {
        header: usize,
        topology: usize,
    },
    CrcMismatch {
        stored: u32,
        computed: u32,
    },
    /// Reserved header bytes are not zero (written by a newer or broken writer).
    ReservedNotZero,
    /// A version-2 blob's input section (scaling, class names) is malformed.
    InputSection(&'static str),
    /// The blob holds a different element type than the caller asked for.
    ElementType,
    // --- int8 models (element type 1) ---
    /// An activation that int8 models do not support (sigmoid, tanh), by code.
    Int8Activation(u8),
    /// A quantization scale that is not a positive finite number. `tensor` 0 is the
    /// input, `tensor` i + 1 the output of layer i.
    QuantScale {
        tensor: usize,
    },
    /// A zero point outside -128..=127, or not 0 on the output layer (whose values are
    /// i32). `tensor` as for [`Error::QuantScale`].
    ZeroPoint {
        tensor: usize,
        value: i32,
    },
    /// A negative requantization multiplier.
    QuantMultiplier {
        layer: usize,
        unit: usize,
        value: i32,
    },
    /// A requantization shift over 31.
    QuantShift {
        layer: usize,
        unit: usize,
        shift: u8,
    },
    /// Padding bytes of an int8 layer (after the shifts, or the zero row and column of
    /// odd sizes) are not zero.
    PaddingNotZero {
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
                crate::MAX_LAYERS
            ),
            Error::ZeroSize => f.write_str("input size and unit counts must be at least 1"),
            Error::TooLarge => write!(
                f,
                "a dimension exceeds {} or the network is too large to address",
                crate::MAX_DIM
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
            Error::TopologyMismatch => {
                f.write_str("the network's topology differs from the trainer's")
            }
            Error::BadMagic => f.write_str("not a microdense weights blob (bad magic)"),
            Error::UnsupportedVersion(v) => write!(
                f,
                "weights format version {v} is not supported (this build reads {})",
                crate::FORMAT_VERSION
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
