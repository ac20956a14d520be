#!/usr/bin/env bash
# What a downstream project pays to build and run its simnet tests: examples/kv copied
# into a workspace of its own, built with an empty target directory, then tested with
# a cold compile cache, a warm one, and none; first in cargo's default dev profile,
# then with the profile docs/testing.md recommends. Figures in seconds.
#
#   bash crates/simnet-bench/downstream-build.sh [WORK_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
rm -rf "$work/kv"
cp -r "$root/examples/kv" "$work/kv"
cp "$root/Cargo.lock" "$root/rust-toolchain.toml" "$work/kv/"
cd "$work/kv"
sed -i "s|path = \"../..\"|path = \"$root\"|" Cargo.toml
printf '\n[workspace]\n' >> Cargo.toml

seconds() { local s e; s=$(date +%s.%N); "$@" > "$work/last.log" 2>&1 || { cat "$work/last.log"; exit 1; }; e=$(date +%s.%N); echo "$e - $s" | bc; }

for profile in default recommended; do
  if [ "$profile" = recommended ]; then
    printf '\n[profile.dev.package."*"]\nopt-level = 2\ndebug = false\n\n[profile.dev]\ndebug = "line-tables-only"\n' >> Cargo.toml
  fi
  export CARGO_TARGET_DIR="$work/target-$profile"
  rm -rf "$CARGO_TARGET_DIR" "$work/cache-$profile"
  echo "$profile: cold build $(seconds cargo test --no-run -q)"
  echo "$profile: test, cold cache $(SIMNET_CACHE_DIR="$work/cache-$profile" seconds cargo test -q)"
  echo "$profile: test, warm cache $(SIMNET_CACHE_DIR="$work/cache-$profile" seconds cargo test -q)"
  echo "$profile: test, no cache $(SIMNET_CACHE_DIR=off seconds cargo test -q)"
  echo "$profile: target size $(du -sh "$CARGO_TARGET_DIR" | cut -f1)"
done
