fn main() {
    // The dynamic loader spends more time relocating a position-independent `lmi` than the
    // whole plugin run takes; a fixed-address executable needs no load-time relocations.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
