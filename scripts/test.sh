#!/bin/sh
# The whole test suite: the C unit tests and the busted specs (ctest), then
# the unit tests again under AddressSanitizer + UBSan.
set -eu
cd "$(dirname "$0")/.."
JOBS="$(nproc)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS"
ctest --test-dir build --output-on-failure -j"$JOBS"

cmake -S . -B build-asan -DLUAVMM_SANITIZE=ON -DCMAKE_C_COMPILER=clang \
  -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$JOBS"
ctest --test-dir build-asan --output-on-failure -L unit
