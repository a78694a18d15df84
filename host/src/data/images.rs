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
