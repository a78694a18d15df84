//! Writes each target's seeds to corpus/<target>/seed-<n> (run from fuzz/).
fn main() -> std::io::Result<()> {
    for (name, _) in microdense_fuzz::TARGETS {
        let dir = std::path::Path::new("corpus").join(name);
        std::fs::create_dir_all(&dir)?;
        for (i, seed) in microdense_fuzz::seeds(name).iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), seed)?;
        }
    }
    Ok(())
}
