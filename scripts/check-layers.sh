#!/bin/sh
# Fails if a file under src/ includes a header from a layer above its own.
# The layers, lowest first (docs/ARCHITECTURE.md):
#   util -> kvm -> devices -> arch -> machine -> lua -> (main.c, attach.c)
# A file may include its own layer and those below it; the Lua bindings
# (src/lua) may not reach past machine/ into arch/ or devices/.
set -eu
cd "$(dirname "$0")/../src"
allowed() { # LAYER -> the include prefixes it may use
  case "$1" in
    util) echo "util" ;;
    kvm) echo "util kvm" ;;
    devices) echo "util kvm devices" ;;
    arch) echo "util kvm devices arch" ;;
    machine) echo "util kvm devices arch machine" ;;
    lua) echo "util kvm machine lua" ;;
    *) echo "" ;;
  esac
}
bad=0
for layer in util kvm devices arch machine lua; do
  ok="$(allowed "$layer")"
  for file in $(find "$layer" -name '*.[ch]' | sort); do
    # Project headers are included with quotes and a layer/ prefix.
    for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([a-z0-9_]*\)\/.*/\1/p' "$file"); do
      case " $ok luavmm " in
        *" $inc "*) ;;
        *) echo "check-layers: src/$file includes $inc/ (a $layer file may include only: $ok)" >&2
           bad=1 ;;
      esac
    done
  done
done
[ "$bad" -eq 0 ] && echo "check-layers: every include follows util -> kvm -> devices -> arch -> machine -> lua"
exit "$bad"
