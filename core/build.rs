//! Enables `cfg(microdense_dsp)` on targets whose every CPU has the Armv7E-M DSP
//! extension (SMLAD, SXTB16, SMMLAR): the int8 kernel's inline assembly is built there.
//! Stable Rust does not expose Arm target features to `cfg`, so the target name decides:
//! `thumbv7em-*` (Cortex-M4, M7). Everything else gets the portable loop, which computes
//! the same integers.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(microdense_dsp)");
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("thumbv7em") {
        println!("cargo:rustc-cfg=microdense_dsp");
    }
}
