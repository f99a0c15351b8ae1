#!/bin/sh
# The whole test suite: the layer check, the C unit tests under AddressSanitizer + UBSan,
# every libFuzzer target for a few seconds (scripts/fuzz.sh), then every C
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

# Every libFuzzer target briefly (13 targets: ~80 s in all); a longer run is
# scripts/fuzz.sh SECONDS.  LUAVMM_FUZZ_SECONDS sets the time per target.
scripts/fuzz.sh "${LUAVMM_FUZZ_SECONDS:-6}"

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS"
ctest --test-dir build --output-on-failure -j"$JOBS"
