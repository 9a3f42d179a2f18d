// A small JSON value type with a parser and a writer, enough for the
// structure.oebin files of Open Ephys recordings and the host's summaries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "json_escape.h"

namespace pyproc::common {

class JsonValue {
public:
    enum class Type { Null, Bool, Number, String, Array, Object };
    using Array = std::vector<JsonValue>;
    using Object = std::vector<std::pair<std::string, JsonValue>>;  // keeps the key order

    JsonValue() = default;  // null
    JsonValue(std::nullptr_t) {}
    JsonValue(bool value) : type_(Type::Bool), bool_(value) {}
    JsonValue(double value) : type_(Type::Number), number_(value) {}
    // Integers are written without a fraction; doubles always with one ("30000.0").
    template <typename Integer,
              std::enable_if_t<std::is_integral_v<Integer> && !std::is_same_v<Integer, bool>, int> = 0>
    JsonValue(Integer value) : type_(Type::Number), number_(static_cast<double>(value)), integral_(true) {}
    JsonValue(const char* value) : type_(Type::String), string_(value) {}
    JsonValue(std::string value) : type_(Type::String), string_(std::move(value)) {}
    JsonValue(Array items) : type_(Type::Array), array_(std::move(items)) {}
    JsonValue(Object members) : type_(Type::Object), object_(std::move(members)) {}

    Type type() const { return type_; }
    bool is_null() const { return type_ == Type::Null; }
    bool is_number() const { return type_ == Type::Number; }
    // A number written without a fraction or an exponent ("42", not "42.0" or "4.2e1").
    bool is_integer() const { return type_ == Type::Number && integral_; }
    bool is_string() const { return type_ == Type::String; }
    bool is_array() const { return type_ == Type::Array; }
    bool is_object() const { return type_ == Type::Object; }

    // Typed access; each throws std::runtime_error if the value has another type.
    bool as_bool() const;
    double as_number() const;
    int64_t as_int() const;  // also requires an integral value
    const std::string& as_string() const;
    const Array& as_array() const;
    const Object& as_object() const;

    // The member KEY of an object, or nullptr if absent (or not an object).
    const JsonValue* find(const std::string& key) const;
    // The member KEY of an object; throws std::runtime_error if absent.
    const JsonValue& at(const std::string& key) const;
    // Typed access to member KEY; errors name the key, e.g.
    // "\"sample_rate\" is a string, expected a number".
    double number_at(const std::string& key) const;
    int64_t int_at(const std::string& key) const;
    const std::string& string_at(const std::string& key) const;
    const Array& array_at(const std::string& key) const;

    // Adds or replaces member KEY, turning a null value into an object.
    JsonValue& set(const std::string& key, JsonValue value);
    // Appends to an array, turning a null value into an array.
    JsonValue& push_back(JsonValue value);

    // Serializes the value; INDENT > 0 pretty-prints with that many spaces.
    std::string dump(int indent = 0) const;

private:
    Type type_ = Type::Null;
    bool bool_ = false;
    double number_ = 0;
    bool integral_ = false;
    std::string string_;
    Array array_;
    Object object_;

    void dump_to(std::string& out, int indent, int depth) const;
};

// Parses TEXT as one JSON document. Errors are std::runtime_error reading
// "<source_name>: line L, column C: <what is wrong>".
JsonValue parse_json(const std::string& text, const std::string& source_name = "JSON text");

// Reads and parses a JSON file; errors name the file.
JsonValue load_json_file(const std::filesystem::path& path);

using pyproc::json_escape;

}  // namespace pyproc::common
