#!/bin/sh
# Builds an ext4 root disk image from Debian's static busybox, without root
# privileges, loop devices or mounts: the tree is made in a temporary
# directory and written into the image by `mkfs.ext4 -d` (e2fsprogs 1.43+).
#
#   scripts/make-rootfs.sh IMAGE [SIZE [EXTRA_DIR]]
#
# SIZE: as truncate(1) takes it, default 64M.  EXTRA_DIR: a directory whose
# contents are copied over the tree (files to put on the disk).  The busybox
# binary is the one scripts/fetch-linux.sh caches ($LUAVMM_LINUX_DIR, default
# /var/cache/luavmm, /busybox), or $LUAVMM_BUSYBOX; if neither exists,
# busybox-static is downloaded into that cache the way fetch-linux.sh does.
#
# The image boots with initramfs-modules.cpio.gz (fetch-linux.sh), whose
# /init mounts /dev/vda and switch_roots into it (README, "A stock Debian
# kernel"): /bin, /sbin and /usr/{bin,sbin} hold busybox's applets as
# symlinks, /etc has passwd, group, hostname and resolv.conf, and /proc,
# /sys, /dev, /tmp, /root and /mnt are empty directories.
set -eu
[ $# -ge 1 ] && [ $# -le 3 ] || { echo "usage: $0 IMAGE [SIZE [EXTRA_DIR]]" >&2; exit 2; }
image="$1" size="${2:-64M}" extra="${3:-}"
CACHE="${LUAVMM_LINUX_DIR:-/var/cache/luavmm}"
say() { echo "make-rootfs: $*"; }
command -v mkfs.ext4 >/dev/null || { echo "make-rootfs: mkfs.ext4 is missing (Debian: e2fsprogs)" >&2; exit 1; }
[ -z "$extra" ] || [ -d "$extra" ] || { echo "make-rootfs: $extra is not a directory" >&2; exit 1; }

busybox="${LUAVMM_BUSYBOX:-$CACHE/busybox}"
if [ ! -x "$busybox" ]; then
  mkdir -p "$CACHE/debs"
  deb="$(ls "$CACHE"/debs/busybox-static_*.deb 2>/dev/null | head -n 1)"
  if [ -z "$deb" ]; then
    say "downloading busybox-static into $CACHE/debs"
    (cd "$CACHE/debs" && apt-get download -q -o APT::Sandbox::User=root busybox-static >/dev/null)
    deb="$(ls "$CACHE"/debs/busybox-static_*.deb | head -n 1)"
  fi
  tmp="$(mktemp -d)"
  dpkg-deb -x "$deb" "$tmp"
  cp "$tmp/bin/busybox" "$CACHE/busybox.tmp" && mv "$CACHE/busybox.tmp" "$CACHE/busybox"
  rm -rf "$tmp"
  busybox="$CACHE/busybox"
fi

tree="$(mktemp -d)"
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree/bin" "$tree/sbin" "$tree/usr/bin" "$tree/usr/sbin" "$tree/etc" \
  "$tree/proc" "$tree/sys" "$tree/dev" "$tree/tmp" "$tree/root" "$tree/mnt"
chmod 1777 "$tree/tmp"
chmod 700 "$tree/root"
cp "$busybox" "$tree/bin/busybox"
# Each applet as a symlink where busybox would install it (--list-full
# prints "bin/sh", "sbin/ip", "usr/bin/awk", ...), relative so the links
# also resolve from the host.
"$busybox" --list-full | while read -r applet; do
  case "$applet" in
    bin/busybox) ;;
    bin/*) ln -sf busybox "$tree/$applet" ;;
    sbin/*) ln -sf ../bin/busybox "$tree/$applet" ;;
    usr/*) ln -sf ../../bin/busybox "$tree/$applet" ;;
  esac
done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$tree/etc/passwd"
printf 'root:x:0:\n' > "$tree/etc/group"
printf 'luavmm\n' > "$tree/etc/hostname"
: > "$tree/etc/resolv.conf"
[ -z "$extra" ] || cp -a "$extra/." "$tree/"

rm -f "$image"
truncate -s "$size" "$image"
# -E root_owner: the files belong to root in the image whoever runs this.
mkfs.ext4 -q -F -L luavmm-root -E root_owner=0:0 -d "$tree" "$image"
say "$image: ext4, $(stat -c %s "$image") bytes, busybox $("$busybox" | head -n 1 | awk '{ print $2 }')"
