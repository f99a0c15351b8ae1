#!/bin/busybox sh
# /init of initramfs-modules.cpio.gz (built by scripts/fetch-linux.sh for
# Debian's stock kernel, whose virtio drivers and ext4 are modules):
#
#  1. loads the modules the initramfs carries, in dependency order
#     (/lib/modules/VERSION/luavmm.load), and lists the virtio devices found;
#  2. mounts the root disk (luavmm.root=, default /dev/vda when there is
#     one) and, if it has a /bin/sh, makes it the root (switch_root);
#  3. brings up the network: lo, then each ethN by DHCP (luavmm.net=dhcp,
#     the default), a static address (luavmm.net=ADDR/PREFIX[,GATEWAY], on
#     eth0) or not at all (luavmm.net=off);
#  4. prints "luavmm-initramfs: ready" and runs the command given after
#     "--" on the kernel command line (its words joined, as sh -c "WORDS"),
#     prints "luavmm-initramfs: command exited STATUS" and powers off;
#     without one, a shell on the console.
#
# Every step prints one "luavmm-initramfs: ..." line on the console.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
say() { echo "luavmm-initramfs: $*"; }

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev || say "no devtmpfs: device nodes are missing"

root=auto net=dhcp
set -f
for word in $(cat /proc/cmdline); do
  case "$word" in
    luavmm.root=*) root="${word#*=}" ;;
    luavmm.net=*) net="${word#*=}" ;;
  esac
done
set +f

# 1. Modules.
kver="$(uname -r)"
mods="/lib/modules/$kver"
if [ -f "$mods/luavmm.load" ]; then
  loaded=0 failed=""
  while read -r m; do
    if insmod "$mods/$m" 2>/tmp/insmod.err; then
      loaded=$((loaded + 1))
    else
      failed="$failed ${m##*/}"
      cat /tmp/insmod.err
    fi
  done < "$mods/luavmm.load"
  say "loaded $loaded modules${failed:+, failed:$failed}"
else
  say "no modules for kernel $kver here (built for: $(ls /lib/modules | tr '\n' ' '))"
fi

# virtio device IDs (virtio 1.2 §5) by name, for the summary line.
virtio_kind() {
  case "$1" in
    0x0001) echo net ;; 0x0002) echo blk ;; 0x0003) echo console ;; 0x0004) echo rng ;;
    0x0005) echo balloon ;; 0x0013) echo vsock ;; *) echo "id$1" ;;
  esac
}
found=""
for d in /sys/bus/virtio/devices/*; do
  [ -e "$d/device" ] || continue
  drv="$(readlink "$d/driver" 2>/dev/null)"
  found="$found ${d##*/}=$(virtio_kind "$(cat "$d/device")")${drv:+(${drv##*/})}"
done
if [ -n "$found" ]; then
  say "virtio devices:$found"
else
  say "no virtio devices (dmesg | grep -i -e virtio -e LNRO0005)"
fi

# 2. The root disk.
switch=no
if [ "$root" = auto ]; then
  root=none
  [ -b /dev/vda ] && root=/dev/vda
fi
if [ "$root" != none ]; then
  i=0
  while [ ! -b "$root" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  if mount "$root" /newroot; then
    if [ -x /newroot/bin/sh ]; then
      switch=yes
      say "root $root mounted, switching to it"
    else
      say "root $root mounted on /newroot (it has no /bin/sh: staying in the initramfs)"
    fi
  else
    say "cannot mount $root"
  fi
fi

# 3. The network.
ip link set lo up
nics=""
for n in /sys/class/net/*; do
  case "${n##*/}" in lo) ;; *) nics="$nics ${n##*/}" ;; esac
done
for nic in $nics; do
  ip link set "$nic" up
  case "$net" in
    off) say "$nic up, not configured (luavmm.net=off)" ;;
    dhcp)
      if udhcpc -i "$nic" -s /etc/udhcpc.script -n -q -f -t 3 -T 1 >/dev/null 2>&1; then
        say "$nic $(ip -4 -o addr show dev "$nic" | awk '{ print $4 }') (DHCP)"
      else
        say "$nic up, no DHCP answer"
      fi ;;
    *)
      if [ "$nic" = eth0 ]; then
        ip addr add "${net%%,*}" dev eth0
        case "$net" in *,*) ip route add default via "${net#*,}" dev eth0 ;; esac
        say "eth0 $net (static)"
      fi ;;
  esac
done
[ -n "$nics" ] || say "no network interface"

# 4. The command, or a shell: the words after "--" on the kernel command
# line.  They are read from /proc/cmdline rather than taken from our
# arguments because Linux passes init at most 32 (MAX_INIT_ARGS) and panics
# on more.  luavmm appends virtio_mmio.device=... to the command line,
# which lands there too and is dropped.
cmd=""
line=" $(cat /proc/cmdline) "
case "$line" in
  *" -- "*)
    set -f
    for a in ${line#* -- }; do
      case "$a" in virtio_mmio.device=*) ;; *) cmd="$cmd${cmd:+ }$a" ;; esac
    done
    set +f ;;
esac
# This runs in the root it ends up in, with the command as $1.
final='
echo "luavmm-initramfs: ready"
if [ -n "$1" ]; then
  sh -c "$1"
  echo "luavmm-initramfs: command exited $?"
  sync
  poweroff -f 2>/dev/null || echo o > /proc/sysrq-trigger
  exit 0
fi
if command -v setsid >/dev/null && command -v cttyhack >/dev/null; then
  exec setsid cttyhack sh
fi
exec sh'

if [ $switch = yes ]; then
  for fs in proc sys dev; do
    mkdir -p "/newroot/$fs" && mount --move "/$fs" "/newroot/$fs"
  done
  [ -s /etc/resolv.conf ] && [ -d /newroot/etc ] && cp /etc/resolv.conf /newroot/etc/
  exec switch_root /newroot /bin/sh -c "$final" init "$cmd"
fi
exec /bin/sh -c "$final" init "$cmd"
