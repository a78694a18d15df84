//! Enables `cfg(microdense_dsp)` on targets whose every CPU has the Armv7E-M DSP
//! extension (SMLAD, SXTB16, SMMLAR): the int8 kernel's inline assembly is built there.
//! Stable Rust does not expose Arm target features to `cfg`, so the target name decides:
//! `thumbv7em-*` (Cortex-M4, M7), and Armv8-M Mainline (`thumbv8m.main-*`), where the
//! extension is optional, when built for a core that has it (`-C target-cpu=cortex-m33`,
//! `cortex-m55`... as the firmware's board aliases pass) or with `-C target-feature=+dsp`. Everything else gets the portable loop, which computes the
//! same integers.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(microdense_dsp)");
    println!("cargo::rustc-check-cfg=cfg(microdense_thumb2)");
    println!("cargo::rustc-check-cfg=cfg(microdense_thumb1)");
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    // The flags as passed (Arm's `dsp` is not in CARGO_CFG_TARGET_FEATURE on stable).
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let dsp = flags.split(['\x1f', ',', '=']).any(|f| {
        matches!(
            f,
            "+dsp" | "cortex-m33" | "cortex-m35p" | "cortex-m55" | "cortex-m85"
        )
    });
    // Thumb-2 without DSP (Cortex-M3, Armv8-M Mainline without it): the MLA loop.
    if target.starts_with("thumbv7") || target.starts_with("thumbv8m.main") {
        println!("cargo:rustc-cfg=microdense_thumb2");
    }
    // Thumb-1 only (Cortex-M0/M0+/M1): the MULS loop. (Armv8-M Baseline would run it too,
    // but no board here tests it.)
    if target.starts_with("thumbv6m") {
        println!("cargo:rustc-cfg=microdense_thumb1");
    }
    if target.starts_with("thumbv7em") || (target.starts_with("thumbv8m.main") && dsp) {
        println!("cargo:rustc-cfg=microdense_dsp");
    }
}
