#!/bin/sh
# Installs the Debian packages luavmm needs to build and test (run as root).
set -eu
PACKAGES="lua5.4 e2fsprogs liblua5.4-dev libfdt-dev libseccomp-dev libslirp-dev linux-libc-dev lua-busted lua-filesystem luarocks cmake gcc clang libclang-rt-14-dev make pkg-config iproute2 cpio xz-utils python3 acpica-tools"
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
  # luarocks pulls in lua5.1, which then takes over /usr/bin/lua (priority
  # 110 against lua5.4's 20); busted's `#!/usr/bin/env lua` must stay 5.4.
  if [ -x /usr/bin/lua5.4 ] && command -v update-alternatives >/dev/null 2>&1; then
    $SUDO update-alternatives --set lua-interpreter /usr/bin/lua5.4 >/dev/null 2>&1 || true
    $SUDO update-alternatives --set lua-compiler /usr/bin/luac5.4 >/dev/null 2>&1 || true
  fi
fi

# Debian's kernel and busybox for the Linux specs, cached (not installed):
# see scripts/fetch-linux.sh.
"$(dirname "$0")/fetch-linux.sh"
