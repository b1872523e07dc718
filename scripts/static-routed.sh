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
# The running code's 64 KiB blocks (hot-text.ld puts it from a block boundary up to the
# start-up code, which begins on a block of its own with the C runtime's _start): code
# added to the main loop costs a whole block more once it crosses the next boundary.
HOT=$(readelf -SW target/static/routed | sed -n 's/.* \.text\.hot *PROGBITS *\([0-9a-f]*\) .*/\1/p')
nm -n -S target/static/routed | python3 -c '
import sys
syms = [l.split() for l in sys.stdin]
start = next(int(s[0], 16) for s in syms if s[-1] == "_start")
begin = -(-int(sys.argv[1], 16) // 0x10000) * 0x10000
end = max(int(s[0], 16) + int(s[1], 16) for s in syms
          if len(s) == 4 and begin <= int(s[0], 16) < start)
blocks = -(-(end - begin) // 0x10000)
print(f"running code: {(end - begin) / 1024:.1f} KiB in {blocks} blocks of 64 KiB, "
      f"{(begin + blocks * 0x10000 - end) / 1024:.1f} KiB left in the last")
' "$HOT"
