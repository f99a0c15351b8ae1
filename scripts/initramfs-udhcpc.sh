#!/bin/sh
# udhcpc's event script in initramfs-modules.cpio.gz (scripts/fetch-linux.sh):
# applies a lease with ip(8).  udhcpc passes the event in $1 and the lease
# in the environment: interface, ip, mask (prefix length), router, dns.
# shellcheck disable=SC2154
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    if [ -n "${router:-}" ]; then
      ip route replace default via "${router%% *}" dev "$interface"
    fi
    : > /etc/resolv.conf
    for server in ${dns:-}; do echo "nameserver $server" >> /etc/resolv.conf; done
    ;;
esac
exit 0
