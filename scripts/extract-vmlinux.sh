#!/bin/sh
# extract-vmlinux.sh BZIMAGE OUT: writes the ELF vmlinux inside an
# xz-compressed bzImage.  The compressed payload starts at the first xz
# stream header (FD 37 7A 58 5A 00) after the setup code; everything after
# the stream (the decompressor's own data) is ignored.
set -eu
in="$1"; out="$2"
offset="$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$in" | head -n 1 | cut -d: -f1)"
[ -n "$offset" ] || { echo "extract-vmlinux: $in has no xz stream" >&2; exit 1; }
tail -c +"$((offset + 1))" "$in" | xz -dc --single-stream > "$out"
head -c 4 "$out" | grep -q ELF || { echo "extract-vmlinux: $in: payload is not an ELF" >&2; exit 1; }
