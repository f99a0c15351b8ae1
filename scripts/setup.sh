#!/bin/sh
# One command for a fresh Debian machine: install the dependencies, build,
# and boot the default recipe.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
build/luavmm run recipes/hello.lua
