#include "safe_name.h"

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace pyproc::host {

namespace {

std::string lower(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

// CON, PRN, AUX, NUL, COM1-9, LPT1-9, with or without an extension: Windows opens the device instead.
bool windows_device_name(const std::string& name) {
    const std::string stem = lower(name.substr(0, name.find('.')));
    for (const char* device : {"con", "prn", "aux", "nul"})
        if (stem == device) return true;
    return stem.size() == 4 && (stem.rfind("com", 0) == 0 || stem.rfind("lpt", 0) == 0) && stem[3] >= '1' &&
           stem[3] <= '9';
}

uint32_t fnv1a(const std::string& text) {
    uint32_t hash = 2166136261u;
    for (const char c : text) hash = (hash ^ static_cast<unsigned char>(c)) * 16777619u;
    return hash;
}

// The longest prefix of TEXT of at most LIMIT bytes that does not split a UTF-8 character.
std::string utf8_prefix(const std::string& text, size_t limit) {
    size_t end = limit < text.size() ? limit : text.size();
    while (end > 0 && end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
    return text.substr(0, end);
}

}  // namespace

std::string safe_path_component(const std::string& name, const std::string& fallback) {
    std::string safe;
    for (const char c : name) {
        const auto byte = static_cast<unsigned char>(c);
        safe += byte < 0x20 || byte == 0x7F || std::strchr("/\\:<>\"|?*", c) ? '_' : c;
    }
    while (!safe.empty() && (safe.back() == '.' || safe.back() == ' ')) safe.pop_back();
    if (safe.empty()) safe = fallback;
    if (safe.size() > kMaxSafeNameBytes) {
        char suffix[16];
        std::snprintf(suffix, sizeof suffix, "-%08x", static_cast<unsigned>(fnv1a(name)));
        safe = utf8_prefix(safe, kMaxSafeNameBytes - std::strlen(suffix)) + suffix;
    }
    if (windows_device_name(safe)) safe.insert(safe.find('.') == std::string::npos ? safe.size() : safe.find('.'), "_");
    return safe;
}

}  // namespace pyproc::host
