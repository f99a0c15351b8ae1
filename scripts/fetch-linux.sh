#!/bin/sh
# Fetches Debian's stock kernel and busybox-static into a cache directory
# WITHOUT installing them (the kernel package's postinst would run the
# initramfs tools): apt-get download + dpkg-deb -x, then extracts the ELF
# vmlinux from the bzImage (it is xz-compressed after the setup code) and
# builds two busybox initramfs images.  Used by the Linux hand-off spec, the
# opt-in full-boot tests, recipes/linux.lua and recipes/debian.lua.
#
#   scripts/fetch-linux.sh [CACHE]   (default $LUAVMM_LINUX_DIR or /var/cache/luavmm)
#
# Leaves in CACHE:
#   vmlinuz                    Debian's bzImage
#   vmlinux                    the ELF inside it (PVH entry)
#   kernel-package             the package both came from (linux-image-6.1.0-NN-amd64)
#   initramfs.cpio.gz          busybox; /init prints a marker and runs a shell
#   initramfs-modules.cpio.gz  busybox + the kernel's virtio and ext4 modules;
#                              /init loads them, mounts the root disk, brings
#                              up the network, runs a command or a shell
#                              (scripts/initramfs-init.sh, README "A stock
#                              Debian kernel")
#   busybox                    the static busybox (scripts/make-rootfs.sh)
#   debs/                      the downloaded packages, kept: nothing is
#                              downloaded twice
# LUAVMM_MODULES (names, space-separated) replaces the list of modules the
# second initramfs carries; their dependencies are added from modules.dep.
set -eu
CACHE="${1:-${LUAVMM_LINUX_DIR:-/var/cache/luavmm}}"
HERE="$(cd "$(dirname "$0")" && pwd)"
# The virtio drivers for every device luavmm has, both transports (ACPI-
# described virtio-mmio: LNRO0005; virtio-pci), ext4 for the root disk, and
# crc32c: ext4 asks the crypto API for it by name at mount time (a
# soft dependency, which modules.dep does not list).
MODULES="${LUAVMM_MODULES:-virtio_blk virtio_net virtio_console virtio_rng virtio_balloon
  vmw_vsock_virtio_transport crc32c_generic ext4 virtio_mmio virtio_pci}"
# Bump when the layout of initramfs-modules.cpio.gz changes (it is also
# rebuilt when /init, the modules or the kernel change).
FORMAT=1
mkdir -p "$CACHE/debs"
cd "$CACHE"
# The unpacked packages (the kernel's is ~400 MB) never outlive a run.
trap 'rm -rf kpkg bpkg initramfs' EXIT

say() { echo "fetch-linux: $*"; }

# The versioned package linux-image-amd64 points at, e.g. linux-image-6.1.0-26-amd64.
kernel_package() {
  apt-cache depends linux-image-amd64 |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n 1
}

# The cached .deb of PACKAGE (downloaded into debs/ first if need be); fails
# when apt cannot download it.
deb() {
  set -- "$1" "$(ls debs/"$1"_*.deb 2>/dev/null | head -n 1)"
  if [ -z "$2" ]; then
    say "downloading $1 into $CACHE/debs" >&2
    (cd debs && apt-get download -q -o APT::Sandbox::User=root "$1" >/dev/null) || return 1
    set -- "$1" "$(ls debs/"$1"_*.deb | head -n 1)"
  fi
  echo "$2"
}

unpack() { # PACKAGE DIR
  rm -rf "$2" && mkdir -p "$2"
  file="$(deb "$1")" || return 1
  say "unpacking ${file#debs/}"
  dpkg-deb -x "$file" "$2"
}

# Which kernel: the one already cached (so vmlinuz, vmlinux and the modules
# always come from one package), else the one linux-image-amd64 names.
cached_pkg=""
if [ -s vmlinuz ] && [ -s vmlinux ] && [ -s kernel-package ]; then
  cached_pkg="$(cat kernel-package)"
fi
pkg="$cached_pkg"
if [ -z "$pkg" ]; then
  pkg="$(kernel_package)"
  [ -n "$pkg" ] || { echo "fetch-linux: apt-cache knows no linux-image-amd64 (apt-get update?)" >&2; exit 1; }
fi

# What initramfs-modules.cpio.gz is built from: rebuilt when any of it changes.
stamp_of() {
  echo "$1 format $FORMAT modules" $MODULES \
    "$(cat "$HERE/initramfs-init.sh" "$HERE/initramfs-udhcpc.sh" | cksum)"
}
stamp="$(stamp_of "$pkg")"
need_modules=no
[ -s initramfs-modules.cpio.gz ] && [ "$(cat initramfs-modules.stamp 2>/dev/null)" = "$stamp" ] ||
  need_modules=yes

if [ -z "$cached_pkg" ] || [ "$need_modules" = yes ]; then
  if ! unpack "$pkg" kpkg; then
    # A cached kernel whose package left the archive (a point release):
    # start over with the current one, so the modules match the kernel.
    new="$(kernel_package)"
    [ -n "$new" ] && [ "$new" != "$pkg" ] || { echo "fetch-linux: cannot download $pkg" >&2; exit 1; }
    say "$pkg is no longer in the archive: switching to $new"
    rm -f debs/"$pkg"_*.deb
    pkg="$new" cached_pkg=""
    stamp="$(stamp_of "$pkg")"
    unpack "$pkg" kpkg
  fi
  # Only one kernel's packages are kept.
  for old in debs/linux-image-*.deb; do
    case "$old" in debs/"$pkg"_*) ;; *) [ -e "$old" ] && rm -f "$old" && say "removed $old" ;; esac
  done
fi

if [ -z "$cached_pkg" ]; then
  say "extracting vmlinuz and the vmlinux ELF inside it"
  cp kpkg/boot/vmlinuz-* vmlinuz.tmp
  "$HERE/extract-vmlinux.sh" vmlinuz.tmp vmlinux.tmp
  mv vmlinux.tmp vmlinux && mv vmlinuz.tmp vmlinuz
  echo "$pkg" > kernel-package
fi

if [ ! -x busybox ]; then
  unpack busybox-static bpkg
  cp bpkg/bin/busybox busybox.tmp && mv busybox.tmp busybox
  rm -rf bpkg
fi

# The cpio of directory $1 as $2 (owners root: a kernel unpacks it as is).
make_cpio() {
  (cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -9) > "$2.tmp"
  mv "$2.tmp" "$2"
}

if [ ! -s initramfs.cpio.gz ]; then
  say "building initramfs.cpio.gz (busybox, a shell)"
  rm -rf initramfs && mkdir -p initramfs/bin initramfs/proc initramfs/sys initramfs/dev
  cp busybox initramfs/bin/busybox
  cat > initramfs/init <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
echo "luavmm-initramfs: ready"
exec setsid cttyhack sh
INIT
  chmod +x initramfs/init
  make_cpio initramfs initramfs.cpio.gz
  rm -rf initramfs
fi

# The modules named in MODULES and everything they need, in load order:
# depth-first over modules.dep (each line "path: deps...", deps transitive),
# a module after its dependencies.  Prints one path per line, relative to
# the modules directory; built-in modules are skipped, unknown ones fail.
load_order() { # MODDIR
  awk -v want="$MODULES" '
    FILENAME ~ /modules\.builtin$/ {
      n = $1; sub(/.*\//, "", n); sub(/\.ko$/, "", n); gsub(/-/, "_", n); builtin[n] = 1; next
    }
    {
      p = $1; sub(/:$/, "", p)
      n = p; sub(/.*\//, "", n); sub(/\.ko(\.[a-z]+)?$/, "", n); gsub(/-/, "_", n)
      path[n] = p; ndeps[p] = NF - 1
      for (i = 2; i <= NF; i++) dep[p, i - 1] = $i
    }
    function visit(p,   i) {
      if (p in done) return
      done[p] = 1
      for (i = 1; i <= ndeps[p]; i++) visit(dep[p, i])
      print p
    }
    END {
      nw = split(want, w, /[ \t\n]+/)
      for (i = 1; i <= nw; i++) {
        if (w[i] == "") continue
        n = w[i]; gsub(/-/, "_", n)
        if (n in path) visit(path[n])
        else if (n in builtin) printf "fetch-linux: %s is built into the kernel\n", n > "/dev/stderr"
        else { printf "fetch-linux: no module %s in modules.dep\n", n > "/dev/stderr"; bad = 1 }
      }
      exit bad
    }' "$1/modules.builtin" "$1/modules.dep"
}

if [ "$need_modules" = yes ]; then
  moddir="$(ls -d kpkg/lib/modules/*)"
  kver="${moddir##*/}"
  # Debian's package has no modules.dep (its postinst runs depmod):
  # busybox's depmod writes one, so kmod is not needed on the host.
  say "generating modules.dep for $kver (busybox depmod)"
  ./busybox depmod -b kpkg "$kver"
  order="$(load_order "$moddir")"
  say "building initramfs-modules.cpio.gz for $kver:" $(echo "$order" | sed 's,.*/,,; s,\.ko$,,')
  rm -rf initramfs && mkdir -p initramfs/bin initramfs/etc initramfs/proc initramfs/sys \
    initramfs/dev initramfs/tmp initramfs/newroot "initramfs/lib/modules/$kver"
  cp busybox initramfs/bin/busybox
  for m in $order; do
    mkdir -p "initramfs/lib/modules/$kver/${m%/*}"
    cp "$moddir/$m" "initramfs/lib/modules/$kver/$m"
  done
  # What the guest's modprobe needs for these modules: modules.dep cut to
  # them (their dependencies are all there), modules.builtin; and the load
  # order /init follows.
  echo "$order" > "initramfs/lib/modules/$kver/luavmm.load"
  echo "$order" | awk 'NR == FNR { keep[$1 ":"] = 1; next } $1 in keep' - "$moddir/modules.dep" \
    > "initramfs/lib/modules/$kver/modules.dep"
  cp "$moddir/modules.builtin" "initramfs/lib/modules/$kver/"
  cp "$HERE/initramfs-init.sh" initramfs/init
  cp "$HERE/initramfs-udhcpc.sh" initramfs/etc/udhcpc.script
  chmod +x initramfs/init initramfs/etc/udhcpc.script
  make_cpio initramfs initramfs-modules.cpio.gz
  echo "$stamp" > initramfs-modules.stamp
  echo "$kver" > kernel-version
  rm -rf initramfs
fi
rm -rf kpkg
say "$CACHE/vmlinuz $CACHE/vmlinux $CACHE/initramfs.cpio.gz $CACHE/initramfs-modules.cpio.gz ($pkg)"
