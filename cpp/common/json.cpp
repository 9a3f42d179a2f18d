#include "json.h"

#include <cmath>
#include <fstream>
#include <locale>
#include <sstream>
#include <stdexcept>

namespace pyproc::common {
namespace {

const char* type_name(JsonValue::Type type) {
    static const char* const kNames[] = {"null", "a boolean", "a number", "a string", "an array", "an object"};
    return kNames[static_cast<int>(type)];
}

void append_utf8(std::string& out, uint32_t code_point) {
    if (code_point < 0x80) {
        out += static_cast<char>(code_point);
    } else if (code_point < 0x800) {
        out += static_cast<char>(0xC0 | (code_point >> 6));
        out += static_cast<char>(0x80 | (code_point & 0x3F));
    } else if (code_point < 0x10000) {
        out += static_cast<char>(0xE0 | (code_point >> 12));
        out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (code_point & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (code_point >> 18));
        out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (code_point & 0x3F));
    }
}

// Numbers go through the classic locale so a host locale with a decimal comma
// cannot change how files are read or written.
std::string format_double(double value) {
    if (!std::isfinite(value)) return "null";  // JSON has no NaN or infinity
    std::string text;
    for (int precision = 15; precision <= 17; ++precision) {
        std::ostringstream out;
        out.imbue(std::locale::classic());
        out.precision(precision);
        out << value;
        text = out.str();
        std::istringstream back(text);
        back.imbue(std::locale::classic());
        double parsed = 0;
        if (back >> parsed && parsed == value) break;  // shortest text that reads back exactly
    }
    if (text.find_first_of(".e") == std::string::npos) text += ".0";
    return text;
}

class Parser {
public:
    Parser(const std::string& text, const std::string& source) : text_(text), source_(source) {}

    JsonValue parse_document() {
        JsonValue value = parse_value(0);
        skip_whitespace();
        if (pos_ < text_.size()) fail("unexpected text after the JSON value");
        return value;
    }

private:
    static constexpr int kMaxDepth = 256;
    const std::string& text_;
    const std::string& source_;
    size_t pos_ = 0;

    [[noreturn]] void fail(const std::string& what) const {
        size_t line = 1, column = 1;
        for (size_t i = 0; i < pos_ && i < text_.size(); ++i) {
            if (text_[i] == '\n') {
                ++line;
                column = 1;
            } else {
                ++column;
            }
        }
        throw std::runtime_error(source_ + ": line " + std::to_string(line) + ", column " +
                                 std::to_string(column) + ": " + what);
    }
    void skip_whitespace() {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
                                       text_[pos_] == '\r'))
            ++pos_;
    }
    char next_significant() {
        skip_whitespace();
        if (pos_ >= text_.size()) fail("unexpected end of input");
        return text_[pos_];
    }
    void expect(char c) {
        if (next_significant() != c) fail(std::string("expected '") + c + "' but found '" + text_[pos_] + "'");
        ++pos_;
    }
    bool consume(char c) {
        if (next_significant() != c) return false;
        ++pos_;
        return true;
    }

    JsonValue parse_value(int depth) {
        if (depth > kMaxDepth) fail("nesting is deeper than " + std::to_string(kMaxDepth) + " levels");
        const char c = next_significant();
        if (c == '{') return parse_object(depth);
        if (c == '[') return parse_array(depth);
        if (c == '"') return JsonValue(parse_string());
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
        for (const char* word : {"true", "false", "null"}) {
            if (text_.compare(pos_, std::char_traits<char>::length(word), word) == 0) {
                pos_ += std::char_traits<char>::length(word);
                return word[0] == 'n' ? JsonValue() : JsonValue(word[0] == 't');
            }
        }
        fail(std::string("unexpected character '") + c + "'");
    }

    JsonValue parse_object(int depth) {
        expect('{');
        JsonValue object{JsonValue::Object{}};
        if (consume('}')) return object;
        do {
            if (next_significant() != '"') fail("expected a quoted key");
            std::string key = parse_string();
            expect(':');
            object.set(key, parse_value(depth + 1));
        } while (consume(','));
        expect('}');
        return object;
    }

    JsonValue parse_array(int depth) {
        expect('[');
        JsonValue array{JsonValue::Array{}};
        if (consume(']')) return array;
        do {
            array.push_back(parse_value(depth + 1));
        } while (consume(','));
        expect(']');
        return array;
    }

    uint32_t parse_hex4() {
        if (pos_ + 4 > text_.size()) fail("truncated \\u escape");
        uint32_t value = 0;
        for (int i = 0; i < 4; ++i) {
            const char h = text_[pos_++];
            value <<= 4;
            if (h >= '0' && h <= '9') value |= static_cast<uint32_t>(h - '0');
            else if (h >= 'a' && h <= 'f') value |= static_cast<uint32_t>(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F') value |= static_cast<uint32_t>(h - 'A' + 10);
            else fail("invalid hex digit in \\u escape");
        }
        return value;
    }

    uint32_t parse_unicode_escape() {
        uint32_t code_point = parse_hex4();
        if (code_point >= 0xD800 && code_point <= 0xDBFF) {  // a UTF-16 surrogate pair
            if (text_.compare(pos_, 2, "\\u") != 0) fail("unpaired UTF-16 surrogate in \\u escape");
            pos_ += 2;
            const uint32_t low = parse_hex4();
            if (low < 0xDC00 || low > 0xDFFF) fail("invalid UTF-16 low surrogate in \\u escape");
            code_point = 0x10000 + ((code_point - 0xD800) << 10) + (low - 0xDC00);
        } else if (code_point >= 0xDC00 && code_point <= 0xDFFF) {
            fail("unpaired UTF-16 surrogate in \\u escape");
        }
        return code_point;
    }

    // The byte length of the UTF-8 character at AT, or 0 when it is not one (overlong forms,
    // surrogates and code points past U+10FFFF included).
    size_t utf8_length(size_t at) const {
        const auto byte = [&](size_t i) { return at + i < text_.size() ? static_cast<unsigned char>(text_[at + i]) : 0u; };
        const unsigned lead = byte(0);
        const size_t length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC2 ? 2 : 0;
        if (length == 0 || lead > 0xF4) return 0;
        for (size_t i = 1; i < length; ++i)
            if ((byte(i) & 0xC0) != 0x80) return 0;
        if ((lead == 0xE0 && byte(1) < 0xA0) || (lead == 0xED && byte(1) > 0x9F) || (lead == 0xF0 && byte(1) < 0x90) ||
            (lead == 0xF4 && byte(1) > 0x8F))
            return 0;
        return length;
    }

    std::string parse_string() {
        ++pos_;  // opening quote
        std::string out;
        while (true) {
            if (pos_ >= text_.size()) fail("unterminated string");
            const char c = text_[pos_++];
            if (c == '"') return out;
            if (static_cast<unsigned char>(c) < 0x20) fail("control character inside a string");
            if (static_cast<unsigned char>(c) >= 0x80) {  // JSON text is UTF-8: a whole, valid character
                const size_t length = utf8_length(pos_ - 1);
                if (length == 0) --pos_, fail("invalid UTF-8 inside a string");
                out.append(text_, pos_ - 1, length);
                pos_ += length - 1;
                continue;
            }
            if (c != '\\') {
                out += c;
                continue;
            }
            if (pos_ >= text_.size()) fail("unterminated string");
            switch (const char e = text_[pos_++]) {
                case '"': case '\\': case '/': out += e; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': append_utf8(out, parse_unicode_escape()); break;
                default: --pos_; fail(std::string("invalid escape '\\") + e + "'");
            }
        }
    }

    JsonValue parse_number() {
        const size_t start = pos_;
        auto digits = [&] {
            const size_t first = pos_;
            while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
            if (pos_ == first) fail("malformed number");
        };
        if (text_[pos_] == '-') ++pos_;
        if (pos_ < text_.size() && text_[pos_] == '0') ++pos_;
        else digits();
        bool integral = true;
        if (pos_ < text_.size() && text_[pos_] == '.') {
            ++pos_;
            digits();
            integral = false;
        }
        if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
            ++pos_;
            if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
            digits();
            integral = false;
        }
        std::istringstream in(text_.substr(start, pos_ - start));
        in.imbue(std::locale::classic());
        double value = 0;
        if (!(in >> value)) {
            pos_ = start;
            fail("number out of range");
        }
        if (integral && std::abs(value) < 9.2e18) return JsonValue(static_cast<int64_t>(value));
        return JsonValue(value);
    }
};

}  // namespace

namespace {
void require_type(JsonValue::Type actual, JsonValue::Type expected) {
    if (actual != expected)
        throw std::runtime_error(std::string("expected ") + type_name(expected) + ", found " + type_name(actual));
}
}  // namespace

bool JsonValue::as_bool() const {
    require_type(type_, Type::Bool);
    return bool_;
}
double JsonValue::as_number() const {
    require_type(type_, Type::Number);
    return number_;
}
const std::string& JsonValue::as_string() const {
    require_type(type_, Type::String);
    return string_;
}
const JsonValue::Array& JsonValue::as_array() const {
    require_type(type_, Type::Array);
    return array_;
}
const JsonValue::Object& JsonValue::as_object() const {
    require_type(type_, Type::Object);
    return object_;
}

int64_t JsonValue::as_int() const {
    const double value = as_number();
    if (value != std::floor(value) || std::abs(value) > 9.2e18)
        throw std::runtime_error("expected an integer, found " + format_double(value));
    return static_cast<int64_t>(value);
}

const JsonValue* JsonValue::find(const std::string& key) const {
    if (type_ != Type::Object) return nullptr;
    for (const auto& [name, value] : object_)
        if (name == key) return &value;
    return nullptr;
}

const JsonValue& JsonValue::at(const std::string& key) const {
    as_object();
    if (const JsonValue* value = find(key)) return *value;
    throw std::runtime_error("missing key \"" + key + "\"");
}

namespace {
// Runs ACCESS on member KEY of OBJECT, prefixing any type error with the key.
template <typename Access>
auto access_member(const JsonValue& object, const std::string& key, Access access) -> decltype(access(object)) {
    const JsonValue& member = object.at(key);
    try {
        return access(member);
    } catch (const std::runtime_error& error) {
        throw std::runtime_error("\"" + key + "\": " + error.what());
    }
}
}  // namespace

double JsonValue::number_at(const std::string& key) const {
    return access_member(*this, key, [](const JsonValue& v) { return v.as_number(); });
}

int64_t JsonValue::int_at(const std::string& key) const {
    return access_member(*this, key, [](const JsonValue& v) { return v.as_int(); });
}

const std::string& JsonValue::string_at(const std::string& key) const {
    return access_member(*this, key, [](const JsonValue& v) -> const std::string& { return v.as_string(); });
}

const JsonValue::Array& JsonValue::array_at(const std::string& key) const {
    return access_member(*this, key, [](const JsonValue& v) -> const Array& { return v.as_array(); });
}

JsonValue& JsonValue::set(const std::string& key, JsonValue value) {
    if (type_ == Type::Null) type_ = Type::Object;
    as_object();
    for (auto& member : object_) {
        if (member.first == key) {
            member.second = std::move(value);
            return member.second;
        }
    }
    object_.emplace_back(key, std::move(value));
    return object_.back().second;
}

JsonValue& JsonValue::push_back(JsonValue value) {
    if (type_ == Type::Null) type_ = Type::Array;
    as_array();
    array_.push_back(std::move(value));
    return array_.back();
}

std::string JsonValue::dump(int indent) const {
    std::string out;
    dump_to(out, indent, 0);
    return out;
}

void JsonValue::dump_to(std::string& out, int indent, int depth) const {
    const auto newline = [&](int level) {
        if (indent > 0) out += '\n' + std::string(static_cast<size_t>(indent * level), ' ');
    };
    switch (type_) {
        case Type::Null: out += "null"; return;
        case Type::Bool: out += bool_ ? "true" : "false"; return;
        case Type::Number:
            out += integral_ ? std::to_string(static_cast<int64_t>(number_)) : format_double(number_);
            return;
        case Type::String: out += json_escape(string_); return;
        case Type::Array:
            out += '[';
            for (size_t i = 0; i < array_.size(); ++i) {
                out += i ? "," : "";
                newline(depth + 1);
                array_[i].dump_to(out, indent, depth + 1);
            }
            if (!array_.empty()) newline(depth);
            out += ']';
            return;
        case Type::Object:
            out += '{';
            for (size_t i = 0; i < object_.size(); ++i) {
                out += i ? "," : "";
                newline(depth + 1);
                out += json_escape(object_[i].first) + (indent > 0 ? ": " : ":");
                object_[i].second.dump_to(out, indent, depth + 1);
            }
            if (!object_.empty()) newline(depth);
            out += '}';
            return;
    }
}

JsonValue parse_json(const std::string& text, const std::string& source_name) {
    return Parser(text, source_name).parse_document();
}

JsonValue load_json_file(const std::filesystem::path& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw std::runtime_error("'" + path.string() + "' cannot be opened");
    std::ostringstream contents;
    contents << file.rdbuf();
    return parse_json(contents.str(), "'" + path.string() + "'");
}

}  // namespace pyproc::common
