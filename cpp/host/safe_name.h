// File and folder names made from names a module or a recording chose (an electrode, a published
// value, a script): one rule for every name the host writes, safe on Linux, macOS and Windows.
#pragma once

#include <string>

namespace pyproc::host {

// The longest name made, in bytes: well under every file system's 255, leaving room for the
// host's own suffixes (".sample_numbers.npy").
constexpr size_t kMaxSafeNameBytes = 100;

// NAME as one path component: path separators, ':', control characters and the characters Windows
// forbids become '_'; trailing dots and spaces go; "", "." and ".." become FALLBACK; a Windows device
// name (CON, nul.txt, COM1...) gets a '_'; a name longer than kMaxSafeNameBytes is cut at a UTF-8
// character boundary and ends in '-' and 8 hex digits of a hash of the whole name, so that two long
// names that share their start stay apart.
std::string safe_path_component(const std::string& name, const std::string& fallback);

}  // namespace pyproc::host
