//! A folder of images per class, `DIR/<class>/*.png` (or `.pgm`), as Keras'
//! `image_dataset_from_directory` reads them: classes are the sub-folder names in sorted
//! order, colour images are converted to greyscale (luma), and all must be one size.
//! Pixels stay 0…255 and are scaled /255, as IDX data is.
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};

use super::table::{Table, MAX_CLASSES};

/// File extensions read as images.
pub const EXTENSIONS: [&str; 2] = ["png", "pgm"];

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = fs::read_dir(dir).map_err(|e| anyhow!("{}: cannot read: {e}", dir.display()))?;
    let mut v = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| anyhow!("{}: cannot read: {e}", dir.display()))?;
        v.push(entry.path());
    }
    v.sort();
    Ok(v)
}

/// Whether `dir` looks like an image folder: a sub-folder holding an image.
pub fn is_image_folder(dir: &Path) -> bool {
    sorted_entries(dir).is_ok_and(|subs| {
        subs.iter()
            .filter(|s| s.is_dir())
            .any(|s| sorted_entries(s).is_ok_and(|f| f.iter().any(|p| is_image(p))))
    })
}

/// One image as greyscale bytes with its (rows, cols).
pub fn read_grey(path: &Path) -> Result<(Vec<u8>, usize, usize)> {
    let img = image::ImageReader::open(path)
        .map_err(|e| anyhow!("{}: cannot read: {e}", path.display()))?
        .with_guessed_format()
        .map_err(|e| anyhow!("{}: cannot read: {e}", path.display()))?
        .decode()
        .map_err(|e| anyhow!("{}: not a readable image: {e}", path.display()))?
        .to_luma8();
    let (w, h) = img.dimensions();
    Ok((img.into_raw(), h as usize, w as usize))
}

/// Loads `dir/<class>/*.png`.
pub fn load(dir: &Path) -> Result<Table> {
    let src = dir.display();
    let classes: Vec<PathBuf> = sorted_entries(dir)?
        .into_iter()
        .filter(|p| p.is_dir())
        .collect();
    if classes.len() > MAX_CLASSES {
        return Err(anyhow!(
            "{src}: {} class folders; at most {MAX_CLASSES}",
            classes.len()
        ));
    }
    let mut names = Vec::new();
    let mut features = Vec::new();
    let mut labels = Vec::new();
    let mut size: Option<(usize, usize, PathBuf)> = None;
    for class in &classes {
        let files: Vec<PathBuf> = sorted_entries(class)?
            .into_iter()
            .filter(|p| is_image(p))
            .collect();
        if files.is_empty() {
            continue;
        }
        let label = names.len() as u8;
        names.push(
            class
                .file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
        );
        for f in files {
            let (pixels, rows, cols) = read_grey(&f)?;
            match &size {
                None => size = Some((rows, cols, f.clone())),
                Some((r, c, first)) if (*r, *c) != (rows, cols) => {
                    return Err(anyhow!(
                        "{}: {cols}x{rows} pixels, but {} is {c}x{r}; all images must be one size",
                        f.display(),
                        first.display()
                    ))
                }
                Some(_) => {}
            }
            features.extend(pixels.iter().map(|&p| f32::from(p)));
            labels.push(label);
        }
    }
    let Some((rows, cols, _)) = size else {
        return Err(anyhow!(
            "{src}: no images (want {src}/<class>/*.png, one folder per class)"
        ));
    };
    let t = Table {
        source: dir.to_path_buf(),
        shape: vec![rows, cols],
        features,
        labels,
        classes: names,
        pixels: true,
    };
    t.check()?;
    Ok(t)
}

/// Brings a picture of any size to a `side`×`side` MNIST-style digit, as MNIST's own
/// preprocessing did: a light background is inverted (ink bright on black), the ink's
/// bounding box is scaled (bilinear) to fit a box of 20/28 of the side keeping its
/// aspect, and placed so its centre of mass is the image's centre.
pub fn mnist_style(grey: &[u8], rows: usize, cols: usize, side: usize) -> Vec<u8> {
    let border: Vec<u8> = (0..rows)
        .flat_map(|r| (0..cols).map(move |c| (r, c)))
        .filter(|&(r, c)| r == 0 || c == 0 || r + 1 == rows || c + 1 == cols)
        .map(|(r, c)| grey[r * cols + c])
        .collect();
    let light =
        border.iter().map(|&p| f64::from(p)).sum::<f64>() / border.len().max(1) as f64 > 127.0;
    let ink: Vec<u8> = grey
        .iter()
        .map(|&p| if light { 255 - p } else { p })
        .collect();
    let mut canvas = vec![0u8; side * side];
    // The ink's bounding box: pixels clearly above the background.
    let on = |r: usize, c: usize| ink[r * cols + c] > 32;
    let rs: Vec<usize> = (0..rows).filter(|&r| (0..cols).any(|c| on(r, c))).collect();
    let cs: Vec<usize> = (0..cols).filter(|&c| (0..rows).any(|r| on(r, c))).collect();
    let (Some(&r0), Some(&r1), Some(&c0), Some(&c1)) =
        (rs.first(), rs.last(), cs.first(), cs.last())
    else {
        return canvas;
    };
    let (h, w) = (r1 - r0 + 1, c1 - c0 + 1);
    let crop = image::GrayImage::from_fn(w as u32, h as u32, |x, y| {
        image::Luma([ink[(r0 + y as usize) * cols + c0 + x as usize]])
    });
    let fit = ((side * 20) as f64 / 28.0).round().max(1.0);
    let k = fit / h.max(w) as f64;
    let (nh, nw) = (
        ((h as f64 * k).round() as u32).max(1),
        ((w as f64 * k).round() as u32).max(1),
    );
    let small = image::imageops::resize(&crop, nw, nh, image::imageops::FilterType::Triangle);
    let (mut mass, mut my, mut mx) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y, p) in small.enumerate_pixels() {
        let v = f64::from(p.0[0]);
        mass += v;
        my += v * f64::from(y);
        mx += v * f64::from(x);
    }
    let (cy, cx) = if mass > 0.0 {
        (my / mass, mx / mass)
    } else {
        (f64::from(nh) / 2.0, f64::from(nw) / 2.0)
    };
    let centre = (side as f64 - 1.0) / 2.0;
    let top = (centre - cy)
        .round()
        .clamp(0.0, (side - nh as usize) as f64) as usize;
    let left = (centre - cx)
        .round()
        .clamp(0.0, (side - nw as usize) as f64) as usize;
    for (x, y, p) in small.enumerate_pixels() {
        canvas[(top + y as usize) * side + left + x as usize] = p.0[0];
    }
    canvas
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(path: &Path, w: u32, h: u32, v: u8) {
        image::GrayImage::from_pixel(w, h, image::Luma([v]))
            .save(path)
            .unwrap();
    }

    #[test]
    fn classes_from_folders() {
        let dir = tempfile::tempdir().unwrap();
        for (class, v) in [("zero", 10u8), ("one", 200)] {
            fs::create_dir(dir.path().join(class)).unwrap();
            png(&dir.path().join(class).join("a.png"), 3, 2, v);
            png(&dir.path().join(class).join("b.png"), 3, 2, v + 1);
        }
        fs::write(dir.path().join("README.txt"), "not an image").unwrap();
        assert!(is_image_folder(dir.path()));
        let t = load(dir.path()).unwrap();
        assert_eq!(t.classes, ["one", "zero"]);
        assert_eq!(t.shape, [2, 3]);
        assert_eq!(t.labels, [0, 0, 1, 1]);
        assert_eq!(t.row(3), [11.0; 6]);
        assert!(t.pixels);

        png(&dir.path().join("one").join("c.png"), 4, 2, 0);
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("c.png: 4x2 pixels, but") && e.contains("a.png is 3x2"),
            "{e}"
        );
        fs::write(dir.path().join("one").join("c.png"), "junk").unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("c.png: not a readable image"), "{e}");
    }

    #[test]
    fn a_dark_digit_on_white_is_inverted_fitted_and_centred() {
        // A 100×60 white picture with a black bar in its top-left corner.
        let (rows, cols) = (60, 100);
        let mut grey = vec![255u8; rows * cols];
        for r in 5..35 {
            for c in 10..20 {
                grey[r * cols + c] = 0;
            }
        }
        let out = mnist_style(&grey, rows, cols, 28);
        assert_eq!(out.len(), 784);
        let lit: Vec<(usize, usize)> = (0..784)
            .filter(|&i| out[i] > 128)
            .map(|i| (i / 28, i % 28))
            .collect();
        let (rmin, rmax) = (
            lit.iter().map(|p| p.0).min().unwrap(),
            lit.iter().map(|p| p.0).max().unwrap(),
        );
        let (cmin, cmax) = (
            lit.iter().map(|p| p.1).min().unwrap(),
            lit.iter().map(|p| p.1).max().unwrap(),
        );
        assert_eq!(rmax - rmin + 1, 20, "fitted to 20 rows");
        assert!(
            (rmin + rmax) / 2 == 13 || (rmin + rmax) / 2 == 14,
            "centred: {rmin}..{rmax}"
        );
        assert!(
            (cmin + cmax) / 2 == 13 || (cmin + cmax) / 2 == 14,
            "centred: {cmin}..{cmax}"
        );
        assert_eq!(out[0], 0, "background black");
        assert_eq!(mnist_style(&[255; 16], 4, 4, 8), vec![0; 64]);
    }

    #[test]
    fn one_class_or_no_images() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path())
            .unwrap_err()
            .to_string()
            .contains("no images"));
        fs::create_dir(dir.path().join("a")).unwrap();
        png(&dir.path().join("a").join("x.png"), 2, 2, 0);
        let e = load(dir.path())
            .and_then(|t| t.check_classes())
            .unwrap_err();
        assert!(e.to_string().contains("only one class"), "{e}");
    }
}
