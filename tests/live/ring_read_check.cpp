// The C++ ring reader (cpp/common/live_ring.h) against the Python one, for tests/test_live.py:
// `ring_read_check FILE CAPACITY FRAMES` writes FRAMES scalar frames named "x" (frame i holds i, at sample
// i) into a new ring file with CAPACITY bytes of data, so that the oldest frames' data are overwritten
// while their index slots remain, then prints what a reader started from the oldest reads:
// "<first value> <frames read> <lost>".
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <vector>

#include "live_ring.h"

namespace live = pyproc::live;

int main(int argc, char** argv) {
    if (argc != 4) return 2;
    const live::Layout layout(std::strtoull(argv[2], nullptr, 10));
    const int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, static_cast<off_t>(layout.file_bytes())) != 0) return 2;
    void* base = mmap(nullptr, layout.file_bytes(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) return 2;
    live::Ring ring(static_cast<uint8_t*>(base));
    ring.initialize(layout, static_cast<uint64_t>(getpid()), 1);
    ring.set_meta("{}");
    uint8_t kind = live::kScalar;
    const int name = ring.find_or_add_name("x", 1, &kind);
    for (uint64_t i = 0, frames = std::strtoull(argv[3], nullptr, 10); i < frames; ++i) {
        live::FrameHeader frame{};
        frame.name_index = static_cast<uint32_t>(name);
        frame.kind = live::kScalar;
        frame.dtype = live::kFloat64;
        frame.sample_number = static_cast<int64_t>(i);
        const double value = static_cast<double>(i);
        std::memcpy(ring.begin_frame(frame, sizeof value), &value, sizeof value);
        ring.commit();
    }
    live::Reader reader(ring);
    std::vector<uint8_t> frame;
    double first = -1;
    uint64_t read = 0;
    while (reader.next(&frame)) {
        if (read++ == 0) std::memcpy(&first, frame.data() + live::kFrameHeaderBytes, sizeof first);
    }
    std::cout << first << " " << read << " " << reader.lost() << "\n";
    munmap(base, layout.file_bytes());
    close(fd);
}
