# Sourced by the bench scripts: a throw-away home for lmi (removed on exit), and the native
# baseline `$work/native`, the same greeting compiled natively with optimisations.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# rustup and cargo find their homes through HOME: pin them before HOME moves.
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export HOME="$work" XDG_CONFIG_HOME="$work/config" XDG_CACHE_HOME="$work/cache" XDG_DATA_HOME="$work/data"
export LMI_LOG_FILE=off

cat > "$work/native.rs" <<'RS'
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    println!("Hello, {}!", if args.is_empty() { "world".to_string() } else { args.join(" ") });
}
RS
rustc -O -o "$work/native" "$work/native.rs"
