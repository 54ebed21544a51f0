fn main() {
    // The dynamic loader spends more time relocating a position-independent `lmi` than the
    // whole plugin run takes; a fixed-address executable needs no load-time relocations.
    #[allow(clippy::disallowed_methods)] // build scripts learn the target from the environment
    let os = std::env::var("CARGO_CFG_TARGET_OS");
    if os.as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
