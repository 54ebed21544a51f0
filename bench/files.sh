#!/usr/bin/env bash
# Dispatch of a plugin that uses files and the terminal: the hostile fixture's `head PATH`
# (granted `files = "read"`: it asks terminal.info for the width and reads a file of the
# working directory) against `lmi hello` and a native hello-world, in alternating rounds as
# dispatch.sh runs them. With LMI_BASELINE=<another lmi binary>, that build's `lmi hello`
# runs in the same rounds (before/after a change).
#
# Uses a release build in $LMI_BENCH_TARGET (default ~/.cache/lmi-target-release).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${LMI_BENCH_TARGET:-$HOME/.cache/lmi-target-release}"
CARGO_TARGET_DIR="$target" cargo build --release -p lmi >&2
lmi="$target/release/lmi"
command -v hyperfine >/dev/null || { echo "bench: needs hyperfine (apt-get install hyperfine)" >&2; exit 2; }
for p in plugins/hello/hello.wasm tests/plugins/hostile/hostile.wasm; do
  [ -f "$p" ] || { echo "bench: run 'make plugins' first" >&2; exit 2; }
done
repo=$PWD
baseline="${LMI_BASELINE:-}"

. bench/support/home.sh

mkdir -p "$work/hostile" "$work/project"
cp tests/plugins/hostile/hostile.wasm "$work/hostile/"
{ cat tests/plugins/hostile/lmi-plugin.toml; printf '\n[permissions]\nfiles = "read"\n'; } > "$work/hostile/lmi-plugin.toml"
printf 'kind: Deployment\nname: app\n' > "$work/project/app.yaml"
"$lmi" plugin install "$repo/plugins/hello" --yes 2>/dev/null
"$lmi" plugin install "$work/hostile" --yes 2>/dev/null
cd "$work/project"
[ "$("$lmi" head app.yaml)" = "kind: Deployment" ] || { echo "bench: lmi head app.yaml failed" >&2; exit 1; }

rounds="${ROUNDS:-5}"
for round in $(seq "$rounds"); do
  set -- -n native "$work/native" -n "lmi hello" "$lmi hello" -n "lmi head (files, terminal)" "$lmi head app.yaml"
  [ -n "$baseline" ] && set -- "$@" -n "baseline lmi hello" "$baseline hello"
  hyperfine --warmup 10 --runs 100 -N --export-json "$work/files.$round.json" "$@" \
    >/dev/null 2>"$work/hyperfine.err" ||
    { cat "$work/hyperfine.err" >&2; echo "bench: a benchmarked command failed" >&2; exit 1; }
done
python3 - "$work" "$rounds" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
runs = {}
for i in range(1, rounds + 1):
    for r in json.load(open(f"{work}/files.{i}.json"))["results"]:
        runs.setdefault(r["command"], []).append(r["median"])
native = statistics.median(runs["native"])
for name, medians in runs.items():
    m = statistics.median(medians)
    print(f"{name}: {m*1000:.2f} ms ({m/native:.2f}x native; median of {rounds} rounds of 100 runs)")
PY
