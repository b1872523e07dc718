#!/bin/bash
# Builds the routed that runs on routers: linked statically (glibc included, no ld.so, not
# position-independent), so that only the code it executes is resident. The C library's
# functions are then ordered by crates/routed/hot-text.ld like routed's own (see
# docs/performance.md, "The static routed"). Writes target/static/routed (and babelctl
# beside it), which target/release/vs_babeld then runs by default. It builds with the
# `router` profile (Cargo.toml: the release profile with the protocol engine and the Linux
# driver optimised for size; docs/performance.md, "Resident code").
#
# Cargo applies RUSTFLAGS to host code too unless a target is named, and proc-macros cannot
# be linked statically, hence the explicit --target (the host's own triple).
set -euo pipefail
cd "$(dirname "$0")/.."
HOST=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static -C relocation-model=static" \
    cargo build --profile router -p routed --bins --target "$HOST"
mkdir -p target/static
for b in routed babelctl; do
    cp "target/$HOST/router/$b" "target/static/$b.tmp"
    mv "target/static/$b.tmp" "target/static/$b"
done
# It must start on its own (no loader, no shared C library).
target/static/routed -V

# crates/routed/hot-text.ld goes stale as the code changes (a function renamed or inlined
# away is then placed with the cold code): say how much of it this build still matches.
SYMS=$(mktemp)
trap 'rm -f "$SYMS"' EXIT
nm target/static/routed | awk '$2 ~ /^[tTW]$/ {print $3}' | sort -u >"$SYMS"
total=0
found=0
while read -r pat; do
    total=$((total + 1))
    # In the list, `?` stands for any one character and `*` for any characters.
    re=${pat//\?/.}
    if grep -qx -- "${re//\*/.*}" "$SYMS"; then
        found=$((found + 1))
    fi
done < <(sed -n 's/^ *\*(\.text\.\([^ ]*\) .*/\1/p' crates/routed/hot-text.ld)
echo "crates/routed/hot-text.ld: $found of $total functions found in this build" \
    "(regenerate it with scripts/hot-text.sh when many are missing)"
