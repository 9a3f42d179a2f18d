#!/usr/bin/env bash
# The macOS branches of everything that is not JUCE or libpython (the loader's dylib search, the live
# ring's folder, isolated mode's POSIX shared memory and __ulock doorbells, the worker's parent watch,
# posix_spawn with POSIX_SPAWN_CLOEXEC_DEFAULT, the conda search) cannot be run here, but pyproc-host and
# pyproc-worker are compiled and linked for macOS (arm64 and x86_64) on every CI run, with Zig's clang and
# its macOS SDK headers and libSystem stubs (PyPI's ziglang, fetched into build/ once), so that they
# cannot rot unseen. The plugin (JUCE, Apple frameworks) and the engine (a macOS libpython) need a Mac.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-"$repo/build/macos"}
zig_dir="$repo/build/ziglang"
mkdir -p "$out"
python=${PYTHON:-python3}
if ! PYTHONPATH="$zig_dir" "$python" -m ziglang version >/dev/null 2>&1; then
    echo "macOS: fetching Zig (PyPI's ziglang) into $zig_dir"
    "$python" -m pip install --quiet --disable-pip-version-check --target "$zig_dir" ziglang
fi
zig() { PYTHONPATH="$zig_dir" "$python" -m ziglang "$@"; }
flags=(-std=c++17 -O0 -Wall -Wextra -Wpedantic -Werror
       -I"$repo/cpp/include" -I"$repo/cpp/common" -I"$repo/cpp/loader" -I"$repo/cpp/isolation")
loader=("$repo/cpp/loader/python_home.cpp" "$repo/cpp/loader/loader.cpp")
build_for() {
    local target=$1
    zig c++ -target "$target" "${flags[@]}" -o "$out/pyproc-worker-$target" \
        "$repo/cpp/worker/main.cpp" "$repo/cpp/isolation/shared_memory.cpp" "$repo/cpp/isolation/realtime.cpp" "${loader[@]}"
    zig c++ -target "$target" "${flags[@]}" -o "$out/pyproc-host-$target" \
        "$repo"/cpp/host/*.cpp "$repo"/cpp/common/*.cpp "$repo"/cpp/isolation/*.cpp "${loader[@]}"
    for program in pyproc-worker pyproc-host; do
        head -c 4 "$out/$program-$target" | od -An -tx1 | grep -Eq 'cf fa ed fe' ||
            { echo "macOS: $out/$program-$target is not a 64-bit Mach-O file" >&2; return 1; }
    done
    echo "macOS ($target): pyproc-host and pyproc-worker compiled and linked: $out/pyproc-host-$target, $out/pyproc-worker-$target"
}
# Both targets at once: each is one compiler process at a time.
build_for aarch64-macos & arm=$!
build_for x86_64-macos & intel=$!
status=0
wait "$arm" || status=1
wait "$intel" || status=1
exit "$status"
