//! CSV datasets: one example per row, numeric feature columns and one label column.
//!
//! Comma or semicolon separated (the one the first row uses more), `#` lines are
//! comments, gzip'd files (`.csv.gz`, found from the content) are read as well. A header
//! row is recognised when a cell of the first row is not a number while the second row's
//! cell below it is, or when no cell of it is a number.
use std::fs;
use std::io::Read;
use std::path::Path;

use anyhow::{anyhow, Result};
use flate2::read::MultiGzDecoder;

use super::table::{classes_from_labels, Table};

/// Which column holds the labels.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LabelColumn {
    /// The last column.
    #[default]
    Last,
    /// 0-based column number.
    Index(usize),
    /// Header name.
    Name(String),
}

impl LabelColumn {
    /// `--label` text: a number is a 0-based column, anything else a header name.
    pub fn parse(s: &str) -> LabelColumn {
        match s.parse::<usize>() {
            Ok(i) => LabelColumn::Index(i),
            Err(_) => LabelColumn::Name(s.to_string()),
        }
    }
}

/// Whether the first row is a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Header {
    #[default]
    Auto,
    Yes,
    No,
}

#[derive(Debug, Clone, Default)]
pub struct CsvOptions {
    pub label: LabelColumn,
    pub header: Header,
}

/// The file's text, gunzipped when it starts with the gzip magic.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = fs::read(path).map_err(|e| anyhow!("{}: cannot read: {e}", path.display()))?;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        MultiGzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(|e| anyhow!("{}: corrupt gzip data: {e}", path.display()))?;
        out
    } else {
        bytes
    };
    String::from_utf8(bytes).map_err(|e| {
        anyhow!(
            "{}: not UTF-8 text (byte {}); is this a CSV file?",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

/// Loads a labelled CSV dataset.
pub fn load(path: &Path, opts: &CsvOptions) -> Result<Table> {
    let text = read_text(path)?;
    let rows = records(path, &text)?;
    let src = path.display();
    let Some((first_line, first)) = rows.first() else {
        return Err(anyhow!("{src}: empty file: no rows"));
    };
    let header = match opts.header {
        Header::Yes => true,
        Header::No => false,
        Header::Auto => looks_like_header(first, rows.get(1).map(|r| &r.1)),
    };
    let columns = first.len();
    let label = match &opts.label {
        LabelColumn::Last => columns - 1,
        LabelColumn::Index(i) if *i < columns => *i,
        LabelColumn::Index(i) => {
            return Err(anyhow!(
                "{src}: no label column {i}: the rows have {columns} columns (0 … {})",
                columns - 1
            ))
        }
        LabelColumn::Name(name) => {
            if !header {
                return Err(anyhow!(
                    "{src}: label column `{name}` asked by name, but the file has no header row"
                ));
            }
            first.iter().position(|h| h == name).ok_or_else(|| {
                anyhow!(
                    "{src}: no column named `{name}` in the header (line {first_line}): {}",
                    first.join(", ")
                )
            })?
        }
    };
    if columns < 2 {
        return Err(anyhow!(
            "{src}: line {first_line}: one column only; need features and a label"
        ));
    }
    let body = &rows[usize::from(header)..];
    if body.is_empty() {
        return Err(anyhow!("{src}: empty file: a header but no data rows"));
    }
    let names: Option<&Vec<String>> = header.then_some(first);
    let mut features = Vec::with_capacity(body.len() * (columns - 1));
    let mut raw_labels = Vec::with_capacity(body.len());
    for (line, row) in body {
        if row.len() != columns {
            return Err(anyhow!(
                "{src}: line {line}: {} columns, but the first row has {columns}",
                row.len()
            ));
        }
        for (j, cell) in row.iter().enumerate() {
            if j == label {
                if cell.is_empty() {
                    return Err(anyhow!("{src}: line {line}: empty label"));
                }
                raw_labels.push(cell.clone());
                continue;
            }
            let col = || match names {
                Some(n) => format!("column {} ({})", j + 1, n[j]),
                None => format!("column {}", j + 1),
            };
            let v: f32 = cell
                .parse()
                .map_err(|_| anyhow!("{src}: line {line}, {}: `{cell}` is not a number", col()))?;
            if !v.is_finite() {
                return Err(anyhow!(
                    "{src}: line {line}, {}: `{cell}` is not a finite number",
                    col()
                ));
            }
            features.push(v);
        }
    }
    let (labels, classes) = classes_from_labels(path, &raw_labels)?;
    let table = Table {
        source: path.to_path_buf(),
        shape: vec![columns - 1],
        features,
        labels,
        classes,
        pixels: false,
    };
    table.check()?;
    Ok(table)
}

/// Unlabelled rows (for `predict`): every column a feature, or the label column
/// dropped when the rows have one more column than `width`.
pub fn load_rows(path: &Path, text: &str, width: usize) -> Result<Vec<Vec<f32>>> {
    let src = path.display();
    let rows = records(path, text)?;
    let mut out = Vec::new();
    for (k, (line, row)) in rows.iter().enumerate() {
        let numeric = row.iter().filter(|c| c.parse::<f32>().is_ok()).count();
        if k == 0 && numeric < width.min(row.len()) {
            continue; // a header
        }
        let cells = match row.len() {
            n if n == width => &row[..],
            n if n == width + 1 => &row[..width], // a label in the last column
            n => {
                return Err(anyhow!(
                    "{src}: line {line}: {n} values, but the model takes {width} features"
                ))
            }
        };
        let mut v = Vec::with_capacity(width);
        for (j, cell) in cells.iter().enumerate() {
            match cell.parse::<f32>() {
                Ok(x) if x.is_finite() => v.push(x),
                _ => {
                    return Err(anyhow!(
                        "{src}: line {line}, column {}: `{cell}` is not a finite number",
                        j + 1
                    ))
                }
            }
        }
        out.push(v);
    }
    if out.is_empty() {
        return Err(anyhow!("{src}: no rows to predict"));
    }
    Ok(out)
}

/// The records with their 1-based line numbers, cells trimmed.
fn records(path: &Path, text: &str) -> Result<Vec<(u64, Vec<String>)>> {
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .unwrap_or("");
    let delimiter = if first.matches(';').count() > first.matches(',').count() {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delimiter)
        .comment(Some(b'#'))
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            anyhow!("{}: line {line}: {e}", path.display())
        })?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        let line = record.position().map_or(0, |p| p.line());
        rows.push((line, record.iter().map(str::to_string).collect()));
    }
    Ok(rows)
}

fn looks_like_header(first: &[String], second: Option<&Vec<String>>) -> bool {
    let number = |s: &str| s.parse::<f64>().is_ok();
    if first.iter().all(|c| !number(c)) {
        return true;
    }
    second.is_some_and(|second| {
        first
            .iter()
            .zip(second)
            .any(|(a, b)| !number(a) && number(b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn header_string_labels_semicolons_comments_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let text = "# sensor log\na;b;kind\n1.5;2;cat\n\n3;-4e1;dog\n# end\n5;6;cat\n";
        let p = write(dir.path(), "t.csv", text);
        let t = load(&p, &CsvOptions::default()).unwrap();
        assert_eq!(t.shape, [2]);
        assert_eq!(t.features, [1.5, 2.0, 3.0, -40.0, 5.0, 6.0]);
        assert_eq!(t.labels, [0, 1, 0]);
        assert_eq!(t.classes, ["cat", "dog"]);

        let gz = dir.path().join("t.csv.gz");
        let mut enc = flate2::write::GzEncoder::new(
            fs::File::create(&gz).unwrap(),
            flate2::Compression::default(),
        );
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap();
        assert_eq!(
            load(&gz, &CsvOptions::default()).unwrap().features,
            t.features
        );
    }

    #[test]
    fn label_by_index_or_name_without_header() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "t.csv", "1,0.5,7\n0,0.25,8\n");
        let opts = CsvOptions {
            label: LabelColumn::Index(0),
            header: Header::Auto,
        };
        let t = load(&p, &opts).unwrap();
        assert_eq!(t.features, [0.5, 7.0, 0.25, 8.0]);
        assert_eq!(
            (t.labels, t.classes),
            (vec![1, 0], vec!["0".into(), "1".into()])
        );
        let opts = CsvOptions {
            label: LabelColumn::Name("y".into()),
            header: Header::Auto,
        };
        let e = load(&p, &opts).unwrap_err().to_string();
        assert!(e.contains("no header row"), "{e}");
    }

    #[test]
    fn bad_files_name_the_place() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("empty.csv", "", "empty file"),
            (
                "ragged.csv",
                "a,b,c\n1,2,x\n1,2\n",
                "line 3: 2 columns, but the first row has 3",
            ),
            (
                "cell.csv",
                "a,b,c\n1,2,x\n1,zz,y\n",
                "line 3, column 2 (b): `zz` is not a number",
            ),
            (
                "nan.csv",
                "a,b,c\n1,2,x\n1,NaN,y\n",
                "line 3, column 2 (b): `NaN` is not a finite",
            ),
            (
                "inf.csv",
                "1,2,x\n1,inf,y\n",
                "line 2, column 2: `inf` is not a finite",
            ),
            ("header.csv", "a,b,c\n", "a header but no data rows"),
        ];
        for (name, text, want) in cases {
            let p = write(dir.path(), name, text);
            let e = load(&p, &CsvOptions::default()).unwrap_err().to_string();
            assert!(e.starts_with(&p.display().to_string()), "{e}");
            assert!(e.contains(want), "{name}: {e}");
        }
        let p = write(dir.path(), "one.csv", "a,b,c\n1,2,x\n1,3,x\n");
        let e = load(&p, &CsvOptions::default()).and_then(|t| t.check_classes());
        assert!(e.unwrap_err().to_string().contains("only one class"));
        let p = write(dir.path(), "l.csv", "a,b,c\n1,2,x\n1,3,y\n");
        let opts = CsvOptions {
            label: LabelColumn::Name("species".into()),
            header: Header::Auto,
        };
        let e = load(&p, &opts).unwrap_err().to_string();
        assert!(e.contains("no column named `species`"), "{e}");
    }

    #[test]
    fn rows_for_prediction_drop_headers_and_labels() {
        let p = Path::new("r.csv");
        let rows = load_rows(p, "a,b,y\n1,2,cat\n3,4,dog\n", 2).unwrap();
        assert_eq!(rows, [vec![1.0, 2.0], vec![3.0, 4.0]]);
        let e = load_rows(p, "1,2,3,4\n", 2).unwrap_err().to_string();
        assert_eq!(e, "r.csv: line 1: 4 values, but the model takes 2 features");
    }
}
