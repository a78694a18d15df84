//! What training and evaluation read: examples as network inputs, by index. IDX data
//! gives its pixels /255; a [`Table`] gives its features as they are, so a table is
//! scaled (with the model's scaling) before it is handed over.
use super::table::Table;
use crate::data::idx::Dataset;

pub trait Examples: Sync {
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Network inputs per example.
    fn input_size(&self) -> usize;

    /// Fills `xs` with the inputs and `labels` with the labels of `indices`, in order.
    fn gather(&self, indices: &[usize], xs: &mut Vec<f32>, labels: &mut Vec<u8>);

    /// Asks the cache for the examples of `indices`, which a later [`Examples::gather`]
    /// will read (a hint: it may do nothing).
    fn prefetch(&self, _indices: &[usize]) {}

    /// Example `i`'s pixels, when the inputs are pixels /255 of these bytes (IDX data):
    /// int8 models quantize them straight from the bytes.
    fn pixels(&self, _i: usize) -> Option<&[u8]> {
        None
    }

    /// Label of example `i`.
    fn label(&self, i: usize) -> u8;
}

impl Examples for Dataset {
    fn len(&self) -> usize {
        Dataset::len(self)
    }

    fn input_size(&self) -> usize {
        Dataset::input_size(self)
    }

    fn gather(&self, indices: &[usize], xs: &mut Vec<f32>, labels: &mut Vec<u8>) {
        super::gather(self, indices, xs, labels);
    }

    fn prefetch(&self, indices: &[usize]) {
        super::prefetch(self, indices);
    }

    fn pixels(&self, i: usize) -> Option<&[u8]> {
        Some(self.image(i))
    }

    fn label(&self, i: usize) -> u8 {
        Dataset::label(self, i)
    }
}

impl Examples for Table {
    fn len(&self) -> usize {
        Table::len(self)
    }

    fn input_size(&self) -> usize {
        self.width()
    }

    fn gather(&self, indices: &[usize], xs: &mut Vec<f32>, labels: &mut Vec<u8>) {
        xs.clear();
        labels.clear();
        for &i in indices {
            xs.extend_from_slice(self.row(i));
            labels.push(self.labels[i]);
        }
    }

    fn label(&self, i: usize) -> u8 {
        self.labels[i]
    }
}
