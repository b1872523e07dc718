#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine with a Rust toolchain, as root.
# Installs what the tests need (babeld, tshark, iproute2, nftables), then runs formatting,
# lint and documentation checks and every test of the workspace. With CI set, a test that
# would skip for lack of root, namespaces, babeld, tshark or nft fails instead.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v babeld >/dev/null 2>&1 || need+=(babeld)
command -v tshark >/dev/null 2>&1 || need+=(tshark)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || need+=(nftables)
if [ ${#need[@]} -gt 0 ]; then
    echo "test.sh: installing ${need[*]}"
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
    else
        echo "test.sh: not root, cannot install ${need[*]}; tests that need them will skip (or fail under CI)" >&2
    fi
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
echo "== cargo test"
cargo test --workspace --no-fail-fast
echo "== the static routed (scripts/static-routed.sh)"
scripts/static-routed.sh
