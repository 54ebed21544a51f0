fn main() {
    // Build scripts learn the target and profile from the environment.
    #[allow(clippy::disallowed_methods)]
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    // The binary stays position-independent (ASLR for a JIT host that handles credentials).
    // Measured on dispatch: PIE costs about 0.5 M more instructions (load-time relocations)
    // and 140 more page faults; `-z pack-relative-relocs` saved only 0.1 M of them and would
    // require glibc 2.36, so it is not used (docs/security.md, "Decisions").
    // Release builds for x86-64 Linux link with rust-lld, which can lay out the functions
    // dispatch runs side by side (host/dispatch.order, made by scripts/gen-dispatch-order):
    // the kernel then maps them with a few dozen page faults instead of over a hundred.
    // LMI_NO_ORDER_FILE=1 turns it off (for a linker other than lld).
    println!("cargo:rerun-if-changed=dispatch.order");
    println!("cargo:rerun-if-env-changed=LMI_NO_ORDER_FILE");
    if var("TARGET") == "x86_64-unknown-linux-gnu"
        && var("PROFILE") == "release"
        && var("LMI_NO_ORDER_FILE").is_empty()
    {
        // The linker reads a copy in OUT_DIR: a target directory shared by two checkouts
        // (CI reuses one) keeps this script's output while dispatch.order is unchanged, and
        // a path into the other checkout would break the link once that checkout is gone.
        let source = std::path::Path::new(&var("CARGO_MANIFEST_DIR")).join("dispatch.order");
        let order = std::path::Path::new(&var("OUT_DIR")).join("dispatch.order");
        if let Err(e) = std::fs::copy(&source, &order) {
            panic!("cannot copy {} to OUT_DIR: {e}", source.display());
        }
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        // Entries for functions a newer build no longer has are expected, not a problem.
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}
