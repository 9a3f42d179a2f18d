// libFuzzer target: the host's JSON parser (structure.oebin, the engine's replies) on any bytes.
// A refusal is a std::runtime_error; anything else (a crash, a hang, unbounded memory) is a finding.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const auto value = pyproc::common::parse_json(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
        (void)value.dump();  // what parses also writes
    } catch (const std::runtime_error&) {
    }
    return 0;
}
