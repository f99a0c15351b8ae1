#!/bin/sh
# Fetches Debian's stock kernel and busybox-static into a cache directory
# WITHOUT installing them (the kernel package's postinst would run the
# initramfs tools): apt-get download + dpkg-deb -x, then extracts the ELF
# vmlinux from the bzImage (it is xz-compressed after the setup code) and
# builds a busybox initramfs.  Used by the Linux hand-off spec, the opt-in
# full-boot test and recipes/linux.lua.
#
#   scripts/fetch-linux.sh [CACHE]   (default $LUAVMM_LINUX_DIR or /var/cache/luavmm)
# Leaves CACHE/vmlinuz (bzImage), CACHE/vmlinux (ELF with the PVH note),
# CACHE/initramfs.cpio.gz (busybox, /init prints a marker and runs a shell).
set -eu
CACHE="${1:-${LUAVMM_LINUX_DIR:-/var/cache/luavmm}}"
HERE="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$CACHE"
cd "$CACHE"

# The versioned package linux-image-amd64 points at, e.g. linux-image-6.1.0-26-amd64.
kernel_package() {
  apt-cache depends linux-image-amd64 |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n 1
}

unpack() { # PACKAGE DIR
  rm -rf "$2" && mkdir -p "$2"
  (cd "$2" && apt-get download -q "$1" >/dev/null)
  dpkg-deb -x "$2"/*.deb "$2/root"
}

if [ ! -s vmlinuz ] || [ ! -s vmlinux ]; then
  pkg="$(kernel_package)"
  [ -n "$pkg" ] || { echo "fetch-linux: apt-cache knows no linux-image-amd64 (apt-get update?)" >&2; exit 1; }
  unpack "$pkg" kpkg
  cp kpkg/root/boot/vmlinuz-* vmlinuz.tmp
  "$HERE/extract-vmlinux.sh" vmlinuz.tmp vmlinux.tmp
  mv vmlinux.tmp vmlinux && mv vmlinuz.tmp vmlinuz
  echo "$pkg" > kernel-package
  rm -rf kpkg
fi

if [ ! -s initramfs.cpio.gz ]; then
  unpack busybox-static bpkg
  rm -rf initramfs && mkdir -p initramfs/bin initramfs/proc initramfs/sys initramfs/dev
  cp bpkg/root/bin/busybox initramfs/bin/busybox
  cat > initramfs/init <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
echo "luavmm-initramfs: ready"
exec setsid cttyhack sh
INIT
  chmod +x initramfs/init
  (cd initramfs && find . | cpio -o -H newc --quiet | gzip -9) > initramfs.tmp
  mv initramfs.tmp initramfs.cpio.gz
  rm -rf initramfs bpkg
fi
echo "fetch-linux: $CACHE/vmlinuz $CACHE/vmlinux $CACHE/initramfs.cpio.gz"
