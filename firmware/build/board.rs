//! A board's description: `boards/<name>/board.toml` (see the two shipped ones for every
//! key), read here into a [`Board`].
use std::path::Path;

use toml::{Table, Value};

/// What the build needs from a board.toml.
pub struct Board {
    pub name: String,
    /// The board's one-line description, printed by the programs.
    pub title: String,
    /// Target triples its core runs; the first is the usual one.
    pub targets: Vec<String>,
    pub irqs: usize,
    pub max_units: usize,
    /// On-chip training set-up.
    pub train_pool: usize,
    pub train_hidden: usize,
    pub train_batch: usize,
    /// The learning rate and momentum as written in board.toml (Rust float literals).
    pub train_rate: String,
    pub train_momentum: String,
    pub train_epochs: usize,
    /// Default bundle, relative to firmware/ (MICRODENSE_BUNDLE overrides it).
    pub bundle: String,
    /// How to make the bundle, for the missing-bundle message: the `microdense` train
    /// arguments of a model that fits, then the export's digit counts.
    pub bundle_train: String,
    pub bundle_digits: String,
    pub bundle_advice: String,
    /// A shipped model (relative to firmware/, e.g. ../models/mnist98.mdw) that the build
    /// exports into a bundle itself when the default bundle is missing (build/shipped.rs).
    pub bundle_shipped: Option<String>,
    /// Cargo features the board needs (the RP2040's `rp2040-boot2`).
    pub features: Vec<String>,
}

fn get<'a>(t: &'a Table, key: &str) -> Result<&'a Value, String> {
    t.get(key).ok_or(format!("no `{key}`"))
}

fn string(t: &Table, key: &str) -> Result<String, String> {
    get(t, key)?
        .as_str()
        .map(str::to_string)
        .ok_or(format!("`{key}` is not a string"))
}

fn count(t: &Table, key: &str) -> Result<usize, String> {
    get(t, key)?
        .as_integer()
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n > 0)
        .ok_or(format!("`{key}` is not a positive integer"))
}

/// A float as a Rust literal that reads back as the same `f32` it was written as.
fn float(t: &Table, key: &str) -> Result<String, String> {
    let v = get(t, key)?;
    let x = v
        .as_float()
        .or(v.as_integer().map(|n| n as f64))
        .ok_or(format!("`{key}` is not a number"))?;
    Ok(format!("{x:?}"))
}

fn table<'a>(t: &'a Table, key: &str) -> Result<&'a Table, String> {
    get(t, key)?
        .as_table()
        .ok_or(format!("`{key}` is not a table"))
}

impl Board {
    /// Reads `boards/<name>/board.toml` under `dir`; the error names the file and key.
    pub fn read(dir: &Path, name: &str) -> Result<Board, String> {
        let path = dir.join(name).join("board.toml");
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let parse = || -> Result<Board, String> {
            let t: Table = text.parse().map_err(|e| format!("{e}"))?;
            let train = table(&t, "train")?;
            let bundle = table(&t, "bundle")?;
            let targets = get(&t, "targets")?
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .filter(|a: &Vec<String>| !a.is_empty())
                .ok_or("`targets` is not a list of target triples")?;
            Ok(Board {
                name: name.to_string(),
                title: string(&t, "name")?,
                targets,
                // Cortex-M only: the vector table's interrupt part.
                irqs: if t.contains_key("irqs") {
                    count(&t, "irqs")?
                } else {
                    0
                },
                max_units: count(&t, "max_units")?,
                train_pool: count(train, "pool")?,
                train_hidden: count(train, "hidden")?,
                train_batch: count(train, "batch")?,
                train_rate: float(train, "rate")?,
                train_momentum: float(train, "momentum")?,
                train_epochs: count(train, "epochs")?,
                bundle: string(bundle, "path")?,
                bundle_train: string(bundle, "train")?,
                bundle_digits: string(bundle, "digits")?,
                bundle_advice: string(bundle, "advice")?,
                bundle_shipped: match bundle.get("shipped") {
                    None => None,
                    Some(v) => Some(v.as_str().ok_or("`shipped` is not a path")?.to_string()),
                },
                features: match t.get("features") {
                    None => Vec::new(),
                    Some(v) => v
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|f| f.as_str().map(str::to_string))
                                .collect()
                        })
                        .ok_or("`features` is not a list of cargo features")?,
                },
            })
        };
        parse().map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The Rust constants of `src/board.rs` (documented there), generated from board.toml.
    pub fn constants(&self) -> String {
        let sgd = if self.train_momentum.parse::<f64>() == Ok(0.0) {
            format!("microdense::Sgd::new({})", self.train_rate)
        } else {
            format!(
                "microdense::Sgd::new({}).with_momentum({})",
                self.train_rate, self.train_momentum
            )
        };
        format!(
            "// Generated by build.rs from boards/{}/board.toml.\n\
             pub const NAME: &str = {:?};\n\
             pub const IRQS: usize = {};\n\
             pub const MAX_UNITS: usize = {};\n\
             pub const TRAIN_HIDDEN: usize = {};\n\
             pub const TRAIN_BATCH: usize = {};\n\
             pub const TRAIN_SGD: microdense::Sgd = {sgd};\n\
             pub const TRAIN_EPOCHS: usize = {};\n",
            self.name,
            self.title,
            self.irqs,
            self.max_units,
            self.train_hidden,
            self.train_batch,
            self.train_epochs
        )
    }

    /// The missing-bundle message: what the bundle holds and how to make this board's.
    pub fn missing_bundle(&self, path: &Path, err: Option<&std::io::Error>) -> String {
        let model = self.bundle_train.rsplit(' ').next().unwrap_or_default();
        format!(
            "no firmware bundle at {}{}.\n\
             The {} firmware embeds a model, test digits with the host's logits for them, and \
             training digits for the on-chip trainer{}. From the repository root:\n\n    \
             cargo run --release -p microdense-host -- {}\n    \
             cargo run --release -p microdense-host -- export --model {model} --firmware {} --out {}\n\n\
             or point MICRODENSE_BUNDLE at a bundle (a relative path is relative to firmware/).",
            path.display(),
            err.map(|e| format!(" ({e})")).unwrap_or_default(),
            self.name,
            self.bundle_advice,
            self.bundle_train,
            self.bundle_digits,
            self.bundle.trim_start_matches("../"),
        )
    }
}
