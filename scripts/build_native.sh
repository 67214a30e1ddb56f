#!/usr/bin/env bash
# Builds the optional native kernels (runtime/kernels/quant_native.c) into
# runtime/kernels/quant_native.so, or into the path given as the first argument.
# Linux on x86-64 only; needs a C compiler (cc, gcc or clang). The library runs
# on CPUs with AVX-512 (F, BW, DQ, VL; and VBMI where the building CPU has it)
# and says so itself, so kernels.ts falls back to the WebAssembly kernels
# elsewhere; nothing needs this to run or test.
set -euo pipefail
cd "$(dirname "$0")/.."
src=runtime/kernels/quant_native.c
out=${1:-runtime/kernels/quant_native.so}
if [ "$(uname -s)" != Linux ] || [ "$(uname -m)" != x86_64 ]; then
  echo "the native kernels are for Linux on x86-64 (this is $(uname -s) $(uname -m));" \
    "the WebAssembly kernels run here" >&2
  exit 1
fi
cc=${CC:-}
if [ -z "$cc" ]; then
  for c in cc gcc clang; do
    if command -v "$c" >/dev/null; then cc=$c; break; fi
  done
fi
if [ -z "$cc" ]; then
  echo "no C compiler found (set CC, or apt-get install -y gcc)" >&2
  exit 1
fi
# The source's hash goes in, so that a library left from an older source is refused; and the
# bin-table search, which needs AVX-512 VBMI, where this CPU has it (the library then asks for
# it at load).
flags=("-DQODA_SOURCE_SHA=\"$(sha256sum "$src" | cut -c1-16)\"")
if grep -qw avx512vbmi /proc/cpuinfo 2>/dev/null; then flags+=(-DQODA_VBMI); fi
mkdir -p "$(dirname "$out")"
"$cc" -O3 -ffp-contract=off -fPIC -shared -fvisibility=hidden -Wall -Wextra -Werror "${flags[@]}" -o "$out.tmp" "$src"
mv "$out.tmp" "$out"
echo "wrote $out ($cc)"
