#!/bin/sh
# The whole test suite: the layer check, the C unit tests under AddressSanitizer + UBSan,
# the virtqueue parser under libFuzzer for a bounded time, then every C
# unit test and busted spec (ctest) in the normal build, whose summary is
# the last thing printed.
set -eu
cd "$(dirname "$0")/.."
JOBS="$(nproc)"

# The one-way include rule between the layers of src/ (docs/ARCHITECTURE.md).
scripts/check-layers.sh

cmake -S . -B build-asan -DLUAVMM_SANITIZE=ON -DCMAKE_C_COMPILER=clang \
  -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$JOBS"
ctest --test-dir build-asan --output-on-failure -L unit

FUZZ_SECONDS="${LUAVMM_FUZZ_SECONDS:-30}"
cmake -S . -B build-fuzz -DLUAVMM_FUZZ=ON -DCMAKE_C_COMPILER=clang \
  -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-fuzz -j"$JOBS" --target fuzz_virtqueue
mkdir -p build-fuzz/corpus
build-fuzz/fuzz_virtqueue -max_total_time="$FUZZ_SECONDS" -max_len=4096 \
  -print_final_stats=1 build-fuzz/corpus
# The control socket's frame parser is small: 10 s unless LUAVMM_FUZZ_SECONDS says.
CONTROL_FUZZ_SECONDS="${LUAVMM_FUZZ_SECONDS:-10}"
cmake --build build-fuzz -j"$JOBS" --target fuzz_control_proto
mkdir -p build-fuzz/corpus-control
build-fuzz/fuzz_control_proto -max_total_time="$CONTROL_FUZZ_SECONDS" -max_len=8192 \
  -print_final_stats=1 build-fuzz/corpus-control

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS"
ctest --test-dir build --output-on-failure -j"$JOBS"
