// libFuzzer target: the host's live ring reader (PublishedWriter, which pyproc-host runs on every
// instance's ring). A valid ring with names, values and an event is written first; the input then
// overwrites it from the offset its first 4 bytes give (or, shorter than that, truncates the file):
// a torn or hostile ring must be refused or read as lost frames, never crash or hang the host.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "live_ring.h"
#include "published_writer.h"

namespace live = pyproc::live;

namespace {

std::vector<uint8_t> valid_ring() {
    const live::Layout layout(64 * 1024);
    std::vector<uint8_t> bytes(layout.file_bytes(), 0);
    live::Ring ring(bytes.data());
    ring.initialize(layout, static_cast<uint64_t>(getpid()), 1);
    ring.set_meta(R"({"program": "fuzz", "node_id": 101})");
    const char* names[] = {"power", "spectrum"};
    for (int k = 0; k < 40; ++k) {
        uint8_t kind = k % 2 ? live::kCurve : live::kScalar;
        const int index = ring.find_or_add_name(names[k % 2], std::strlen(names[k % 2]), &kind);
        live::FrameHeader frame{};
        frame.name_index = static_cast<uint32_t>(index);
        frame.kind = kind;
        frame.dtype = k % 2 ? live::kFloat32 : live::kFloat64;
        frame.ndim = k % 2 ? 1 : 0;
        frame.shape[0] = k % 2 ? 16 : 0;
        frame.sample_number = 1024 * k;
        const size_t bytes_of_values = k % 2 ? 16 * sizeof(float) : sizeof(double);
        uint8_t* payload = ring.begin_frame(frame, bytes_of_values);
        std::memset(payload, k, bytes_of_values);
        ring.commit();
    }
    return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::vector<uint8_t> base = valid_ring();
    static const std::string path = "/dev/shm/pyproc-fuzz-ring-" + std::to_string(getpid());
    std::vector<uint8_t> ring = base;
    if (size >= 4) {
        uint32_t offset = 0;
        std::memcpy(&offset, data, 4);
        offset %= static_cast<uint32_t>(ring.size());
        const size_t count = std::min(size - 4, ring.size() - offset);
        std::memcpy(ring.data() + offset, data + 4, count);
    } else {
        ring.resize(size * 1024);  // a ring file cut short
    }
    {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(ring.data()), static_cast<std::streamsize>(ring.size()));
    }
    try {
        pyproc::host::PublishedWriter writer(path, {});  // count only: no files written
        writer.drain();
        writer.finish();
    } catch (const std::runtime_error&) {
    }
    return 0;
}
