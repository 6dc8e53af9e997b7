#!/bin/sh
# Build the SeedPay channel escrow: program/channel/channel.c -> program/channel/build/seedpay_channel.so
# Upstream clang for BPF (Debian's clang 14 or later), linked into an SBPFv0 shared object by
# program/sbflink.py (Debian's ld.lld cannot link BPF). Deterministic: same source, same bytes.
# Fails loudly (exit 1) when clang or python3 is missing: CI must never test a stale binary.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
CC=${CC:-clang}
if ! command -v "$CC" >/dev/null 2>&1; then
  echo "build.sh: $CC not found — install it (Debian: apt-get install -y --no-install-recommends clang)" >&2
  exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "build.sh: python3 not found (program/sbflink.py links the program)" >&2
  exit 1
fi
out_dir="$here/channel/build"
mkdir -p "$out_dir"
obj="$out_dir/seedpay_channel.o"
so="$out_dir/seedpay_channel.so"
# -mcpu=v2: v3 emits 32-bit jumps that SBPFv0 rejects. -ffreestanding/-fno-builtin: no libc.
# -Werror: a warning in an escrow is a bug until shown otherwise.
"$CC" -target bpf -mcpu=v2 -O2 -fno-builtin -ffreestanding -Wall -Wextra -Werror \
  -fno-ident -c "$here/channel/channel.c" -o "$obj"
python3 "$here/sbflink.py" "$obj" "$so.tmp"
mv "$so.tmp" "$so"
