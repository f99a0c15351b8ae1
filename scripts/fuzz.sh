#!/bin/sh
# Builds the libFuzzer targets (build-fuzz, clang, -DLUAVMM_FUZZ=ON) and
# runs each for SECONDS (default 60):
#
#   scripts/fuzz.sh [SECONDS]          every target
#   FUZZ_TARGETS="fuzz_elf fuzz_size" scripts/fuzz.sh 30    some of them
#
# Each target starts from its seeds in tests/fuzz/corpus/TARGET/ (checked
# in: reproducers of fixed bugs and hand-made well-formed inputs) and
# keeps what it finds in build-fuzz/corpus/TARGET/.  A crash, leak or
# sanitizer report is saved as build-fuzz/artifacts/TARGET-crash-*; the
# script goes on with the other targets and exits 1 at the end if any
# target failed.  scripts/test.sh runs it briefly.
set -eu
cd "$(dirname "$0")/.."
SECONDS_EACH="${1:-60}"
JOBS="$(nproc)"

cmake -S . -B build-fuzz -DLUAVMM_FUZZ=ON -DCMAKE_C_COMPILER=clang \
  -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-fuzz -j"$JOBS" --target fuzz_all

ALL="fuzz_virtqueue fuzz_virtio_mmio fuzz_virtio_blk fuzz_virtio_net
  fuzz_virtio_console fuzz_virtio_rng fuzz_elf fuzz_bzimage fuzz_multiboot
  fuzz_boot_kind fuzz_boot_data fuzz_size fuzz_rate_config fuzz_vsock fuzz_state
  fuzz_virtio_state fuzz_pci fuzz_fw_cfg"
# Built only where its source is in the tree (CMakeLists.txt).
[ -x build-fuzz/fuzz_control_proto ] && ALL="$ALL fuzz_control_proto"
failed=""
mkdir -p build-fuzz/artifacts
for t in ${FUZZ_TARGETS:-$ALL}; do
  corpus="build-fuzz/corpus/$t"
  mkdir -p "$corpus"
  seeds=""
  [ -d "tests/fuzz/corpus/$t" ] && seeds="tests/fuzz/corpus/$t"
  echo "== $t: ${SECONDS_EACH}s"
  # -max_len: the loader targets need room for a kernel file's headers.
  if ! "build-fuzz/$t" -max_total_time="$SECONDS_EACH" -max_len=16384 \
      -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="build-fuzz/artifacts/$t-" "$corpus" $seeds \
      >"build-fuzz/$t.log" 2>&1; then
    failed="$failed $t"
    echo "!! $t failed: see build-fuzz/$t.log and build-fuzz/artifacts/"
    grep -E "^(==[0-9]+==ERROR|SUMMARY)|runtime error" "build-fuzz/$t.log" | head -5 || true
  fi
  grep -E "^stat::number_of_executed_units|^#[0-9]+.*DONE" "build-fuzz/$t.log" | tail -1 || true
done
if [ -n "$failed" ]; then
  echo "fuzz: FAILED:$failed"
  exit 1
fi
echo "fuzz: all targets clean"
