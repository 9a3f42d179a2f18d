// JSON string literals, for the engine's status and the host's JSON documents alike.
#pragma once

#include <string>

namespace pyproc {

// S as a quoted JSON string literal, e.g. a"b -> "a\"b".
inline std::string json_escape(const std::string& s) {
    std::string out = "\"";
    for (const char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    static const char kHex[] = "0123456789abcdef";
                    out += "\\u00";
                    out += kHex[(c >> 4) & 0xF];
                    out += kHex[c & 0xF];
                } else {
                    out += c;  // UTF-8 bytes pass through unchanged
                }
        }
    }
    return out + "\"";
}

}  // namespace pyproc
