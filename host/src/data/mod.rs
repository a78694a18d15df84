//! Datasets as the network sees them: loading a split with a one-line error, checking it
//! fits a network, and gathering batches of pixels scaled to [0, 1].
pub mod csv;
pub mod examples;
pub mod fetch;
pub mod idx;
pub mod images;
pub mod npy;
pub mod prepare;
pub mod source;
pub mod table;

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};
use microdense::Topology;

use idx::{Dataset, Split};

/// The one pixel scaling: `p / 255` (as the tutorial scales them), for every input the
/// f32 network sees, so training, evaluation and the firmware's expected logits agree bit
/// for bit.
pub fn scaled(pixels: &[u8]) -> impl Iterator<Item = f32> + '_ {
    pixels.iter().map(|&p| f32::from(p) / 255.0)
}

/// A loaded split and the files it came from (for error messages).
pub struct Data {
    pub set: Dataset,
    pub dir: PathBuf,
    pub split: Split,
    /// The image and label files read.
    pub files: Vec<PathBuf>,
}

/// Most classes a model may have to be scored: labels are bytes.
pub const MAX_CLASSES: usize = 256;

impl Data {
    pub fn load(dir: &Path, split: Split) -> Result<Data> {
        let set = idx::load_split(dir, split)?;
        if set.is_empty() {
            return Err(anyhow!("{}: the {split} set has no images", dir.display()));
        }
        Ok(Data {
            set,
            dir: dir.to_path_buf(),
            split,
            files: idx::split_files(dir, split),
        })
    }

    /// The file named in errors about the images (or labels), the directory if unknown.
    fn file(&self, labels: bool) -> &Path {
        self.files
            .get(usize::from(labels))
            .map_or(&self.dir, PathBuf::as_path)
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Every label must name one of `classes` outputs.
    pub fn check_labels(&self, classes: usize) -> Result<()> {
        match self.set.max_label() {
            Some(max) if usize::from(max) >= classes => Err(anyhow!(
                "{}: the {} labels go up to {max}, but the network has {classes} classes",
                self.file(true).display(),
                self.split
            )),
            _ => Ok(()),
        }
    }

    /// The images must have as many pixels as the network has inputs, and the labels fit
    /// its outputs. `model` names the network's file in the error.
    pub fn check_fits(&self, topology: &Topology, model: &Path) -> Result<()> {
        let img = &self.set.images;
        if topology.outputs() > MAX_CLASSES {
            return Err(anyhow!(
                "{}: the model has {} classes; labels are bytes, so at most {MAX_CLASSES} \
                 classes can be scored",
                model.display(),
                topology.outputs()
            ));
        }
        if img.image_size() != topology.input() {
            return Err(anyhow!(
                "{}: the model takes {} inputs, but the {} images in {} are {}x{} = {} pixels",
                model.display(),
                topology.input(),
                self.split,
                self.file(false).display(),
                img.rows,
                img.cols,
                img.image_size()
            ));
        }
        self.check_labels(topology.outputs())
    }

    /// Fills `xs` with the scaled pixels and `labels` with the labels of `indices`.
    pub fn gather(&self, indices: &[usize], xs: &mut Vec<f32>, labels: &mut Vec<u8>) {
        gather(&self.set, indices, xs, labels);
    }
}

/// Asks the cache for the pixels of `indices` (scattered over the whole set) without
/// waiting for them: a training step asks for the next batch's, which then arrive while
/// it computes.
pub fn prefetch(set: &Dataset, indices: &[usize]) {
    #[cfg(target_arch = "x86_64")]
    for &i in indices {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        for line in set.image(i).chunks(64) {
            // SAFETY: SSE is part of x86-64; a prefetch only hints the cache, reads nothing.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast()) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (set, indices);
}

/// Pixels of `indices`, end to end, [`scaled`].
pub fn gather(set: &Dataset, indices: &[usize], xs: &mut Vec<f32>, labels: &mut Vec<u8>) {
    let n = set.input_size();
    xs.clear();
    labels.clear();
    // The images lie scattered over the whole set: ask for all their cache lines first,
    // so the misses overlap instead of stalling one image at a time.
    prefetch(set, indices);
    append_scaled(set, indices, xs, labels);
    debug_assert_eq!(xs.len(), indices.len() * n);
}

/// The copying part of [`gather`]: the very same division, eight pixels at a time where
/// the CPU has AVX2 (the scaling is most of a batch's assembly).
fn append_scaled(set: &Dataset, indices: &[usize], xs: &mut Vec<f32>, labels: &mut Vec<u8>) {
    #[inline(always)]
    fn body(set: &Dataset, indices: &[usize], xs: &mut Vec<f32>, labels: &mut Vec<u8>) {
        for &i in indices {
            xs.extend(scaled(set.image(i)));
            labels.push(set.label(i));
        }
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        #[target_feature(enable = "avx2")]
        fn wide(set: &Dataset, indices: &[usize], xs: &mut Vec<f32>, labels: &mut Vec<u8>) {
            body(set, indices, xs, labels)
        }
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { wide(set, indices, xs, labels) };
    }
    body(set, indices, xs, labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use idx::Images;

    fn set() -> Dataset {
        Dataset {
            images: Images {
                count: 2,
                rows: 1,
                cols: 2,
                pixels: vec![0, 255, 51, 102],
            },
            labels: vec![1, 0],
        }
    }

    #[test]
    fn gathers_scaled_pixels() {
        let (mut xs, mut ys) = (vec![9.0], vec![9]);
        gather(&set(), &[1, 0], &mut xs, &mut ys);
        assert_eq!(xs, [0.2, 0.4, 0.0, 1.0]);
        assert_eq!(ys, [0, 1]);
    }

    #[test]
    fn fit_errors_name_files() {
        let data = Data {
            set: set(),
            dir: PathBuf::from("d"),
            split: Split::Test,
            files: vec![PathBuf::from("d/i.gz"), PathBuf::from("d/l.gz")],
        };
        let t = crate::model::mlp(3, &[], microdense::Activation::Linear, 2).unwrap();
        let e = data.check_fits(&t, Path::new("m.mdw")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "m.mdw: the model takes 3 inputs, but the test images in d/i.gz are 1x2 = 2 pixels"
        );
        assert!(data.check_labels(2).is_ok());
        let e = data.check_labels(1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "d/l.gz: the test labels go up to 1, but the network has 1 classes"
        );
        let wide = crate::model::mlp(2, &[], microdense::Activation::Linear, 257).unwrap();
        let e = data.check_fits(&wide, Path::new("m.mdw")).unwrap_err();
        assert!(e.to_string().contains("257 classes"), "{e}");
    }
}
