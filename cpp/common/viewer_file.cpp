#include "viewer_file.h"

#include <stdexcept>

#include "json.h"

namespace pyproc::common {

namespace {
constexpr int64_t kLargestPid = 2147483647;  // pids are 32-bit on every platform (a DWORD on Windows)

bool starts_with(const std::string& text, const char* prefix) { return text.rfind(prefix, 0) == 0; }
}  // namespace

std::optional<std::string> running_viewer_url(const std::string& text, const std::function<bool(int64_t)>& alive) {
    JsonValue file;
    try {
        file = parse_json(text, "viewer.json");
    } catch (const std::runtime_error&) {
        return std::nullopt;
    }
    const JsonValue* pid = file.find("pid");
    const JsonValue* url = file.find("url");
    if (!pid || !url || !pid->is_integer() || !url->is_string()) return std::nullopt;
    const int64_t number = pid->as_int();
    const std::string& address = url->as_string();
    if (number < 1 || number > kLargestPid) return std::nullopt;
    if (!starts_with(address, "http://") && !starts_with(address, "https://")) return std::nullopt;
    if (!alive(number)) return std::nullopt;
    return address;
}

}  // namespace pyproc::common
