// libFuzzer target: the host's .npy reader (sample numbers, events, spikes of a recording) on any
// bytes, through a file as the host reads one.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <string>

#include "npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::string path = "/dev/shm/pyproc-fuzz-npy-" + std::to_string(getpid()) + ".npy";
    {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    }
    try {
        std::vector<size_t> shape;
        (void)pyproc::host::load_npy_as<int64_t>(path, &shape);
        (void)pyproc::host::load_npy_as<float>(path, &shape, 16);
    } catch (const std::runtime_error&) {
    }
    return 0;
}
