#!/usr/bin/env bash
# The loader's Windows branch (AddDllDirectory, LoadLibraryExW, python3.dll) and the live ring's
# (CreateFileMapping) cannot be run here, but they are compiled with MinGW-w64 on every CI run so
# that they cannot rot unseen.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-"$repo/build/mingw"}
mkdir -p "$out"
cxx=x86_64-w64-mingw32-g++-posix
command -v "$cxx" >/dev/null || cxx=x86_64-w64-mingw32-g++
flags=(-std=c++17 -O1 -Wall -Wextra -Wpedantic -Werror -D_WIN32_WINNT=0x0A00 -I"$repo/cpp/loader")
"$cxx" "${flags[@]}" -o "$out/loader_probe.exe" \
    "$repo/cpp/loader/python_home.cpp" "$repo/cpp/loader/loader.cpp" "$repo/tests/windows/loader_probe.cpp" \
    -static
echo "MinGW-w64: loader for Windows compiled and linked: $out/loader_probe.exe"
# The live ring's Windows branch (CreateFileMapping, MapViewOfFile).
"$cxx" "${flags[@]}" -I"$repo/cpp/engine" -c -o "$out/live_ring.o" "$repo/cpp/engine/live_ring.cpp"
echo "MinGW-w64: live ring for Windows compiled: $out/live_ring.o"
