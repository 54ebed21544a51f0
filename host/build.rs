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
    check_current_contract(&var("CARGO_MANIFEST_DIR"));
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

/// The current contract's WIT is the SDK's (`plugin-sdk/wit/`, shipped in the SDK's package);
/// lmi's package carries a copy in `wit/v0.3/` so that it builds on its own (`cargo package`,
/// `cargo install`). Built inside the repository, the copy must be the SDK's byte for byte:
/// `scripts/sync-wit` makes it so. Built from the package, there is no SDK beside it to compare.
fn check_current_contract(manifest_dir: &str) {
    use std::path::{Path, PathBuf};
    let ours = Path::new(manifest_dir).join("wit/v0.3");
    let sdk = Path::new(manifest_dir).join("../plugin-sdk/wit");
    if !sdk.is_dir() {
        return;
    }
    fn files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .map(|e| e.expect("a directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                files(root, &path, out);
            } else if path.extension().is_some_and(|x| x == "wit") {
                out.push(path.strip_prefix(root).expect("under root").to_path_buf());
            }
        }
    }
    let (mut want, mut have) = (Vec::new(), Vec::new());
    files(&sdk, &sdk, &mut want);
    files(&ours, &ours, &mut have);
    println!("cargo:rerun-if-changed={}", sdk.display());
    println!("cargo:rerun-if-changed={}", ours.display());
    let same = want == have
        && want.iter().all(|f| {
            println!("cargo:rerun-if-changed={}", sdk.join(f).display());
            println!("cargo:rerun-if-changed={}", ours.join(f).display());
            std::fs::read(sdk.join(f)).ok() == std::fs::read(ours.join(f)).ok()
        });
    if !same {
        panic!(
            "host/wit/v0.3/ differs from plugin-sdk/wit/ (the current contract's one source): run scripts/sync-wit"
        );
    }
}
