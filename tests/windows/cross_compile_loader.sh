#!/usr/bin/env bash
# The loader's Windows branch (AddDllDirectory, LoadLibraryExW, python3.dll), the live ring's
# (CreateFileMapping) and isolated mode's (pyproc-worker, its named mapping and events, the job object
# that ends it with the GUI) cannot be run here, but they are compiled with MinGW-w64 on every CI run
# so that they cannot rot unseen.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-"$repo/build/mingw"}
mkdir -p "$out"
cxx=x86_64-w64-mingw32-g++-posix
command -v "$cxx" >/dev/null || cxx=x86_64-w64-mingw32-g++
flags=(-std=c++17 -O1 -Wall -Wextra -Wpedantic -Werror -D_WIN32_WINNT=0x0A00 -I"$repo/cpp/loader" -I"$repo/cpp/include")
"$cxx" "${flags[@]}" -o "$out/loader_probe.exe" \
    "$repo/cpp/loader/python_home.cpp" "$repo/cpp/loader/loader.cpp" "$repo/tests/windows/loader_probe.cpp" \
    -static
echo "MinGW-w64: loader for Windows compiled and linked: $out/loader_probe.exe"
# The live ring's Windows branch (CreateFileMapping, MapViewOfFile).
"$cxx" "${flags[@]}" -I"$repo/cpp/common" -c -o "$out/live_ring.o" "$repo/cpp/common/live_ring.cpp"
echo "MinGW-w64: live ring for Windows compiled: $out/live_ring.o"
# Isolated mode: the worker program, and the client's table with the process and memory it manages.
iso=(-I"$repo/cpp/common" -I"$repo/cpp/isolation")
"$cxx" "${flags[@]}" "${iso[@]}" -o "$out/pyproc-worker.exe" "$repo/cpp/worker/main.cpp" \
    "$repo/cpp/isolation/shared_memory.cpp" "$repo/cpp/isolation/realtime.cpp" "$repo/cpp/loader/python_home.cpp" "$repo/cpp/loader/loader.cpp" -static
"$cxx" "${flags[@]}" "${iso[@]}" -o "$out/isolation_probe.exe" "$repo/tests/windows/isolation_probe.cpp" \
    "$repo/cpp/isolation/isolated_engine.cpp" "$repo/cpp/isolation/shared_memory.cpp" "$repo/cpp/isolation/realtime.cpp" \
    "$repo/cpp/common/child_process.cpp" \
    "$repo/cpp/loader/python_home.cpp" "$repo/cpp/loader/loader.cpp" -static
echo "MinGW-w64: isolated mode for Windows compiled and linked: $out/pyproc-worker.exe, $out/isolation_probe.exe"
