// What one instance publishes with processor.publish(name, value, x), read from its live ring
// (docs/live.md) and, with --output, stacked into .npy files per name:
//
//   <folder>/<file>.npy                 the values: scalars (n,) float64, curves (n, len) float32,
//                                       images (n, rows, cols) float32, pictures (n, H, W, 4) uint8
//   <folder>/<file>.sample_numbers.npy  (n,) int64: the first sample of the buffer each was published in
//   <folder>/<file>.x.npy               a curve's x (float32), from its first frame that had one
//   <folder>/names.json                 {"<file>": "<name as published>", ...}
//
// <file> is the name made safe for every file system. A name keeps the shape of its first frame;
// frames of another shape are counted, not written. TTL events in the ring are skipped: they are
// in the recording already. Reading never blocks the writer; frames overwritten before they were
// read are counted as lost (none, when the host drains after every buffer).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "live_ring.h"
#include "npy.h"

namespace pyproc::host {

class PublishedWriter {
public:
    struct Series {
        std::string name;      // as published
        std::string file;      // the safe file name stem
        uint8_t kind = 0;
        uint32_t shape[2] = {0, 0};
        uint8_t ndim = 0;
        uint64_t written = 0;      // frames of the first shape
        uint64_t other_shape = 0;  // frames of another shape: counted, not written
        bool x_written = false;
        std::unique_ptr<NpyByteWriter> values;
        std::unique_ptr<NpyWriter<int64_t>> sample_numbers;
    };

    // RING_PATH: the instance's ring file as live_status gives it ("" when it has none, then
    // nothing is read). FOLDER: where the files go, created at the first frame; empty: count only.
    PublishedWriter(const std::string& ring_path, std::filesystem::path folder);
    ~PublishedWriter();
    PublishedWriter(const PublishedWriter&) = delete;
    PublishedWriter& operator=(const PublishedWriter&) = delete;

    // Reads (and writes) every frame published since the last call.
    void drain();
    // Drains, patches the final counts into the files, writes names.json and unmaps the ring.
    void finish();

    // In the order the names were first read.
    const std::vector<std::unique_ptr<Series>>& series() const { return series_; }
    uint64_t lost() const { return lost_ + (reader_ ? reader_->lost() : 0); }
    // The folder when anything was written there, else empty.
    std::filesystem::path written_folder() const { return folder_created_ ? folder_ : std::filesystem::path(); }

private:
    Series& series_for(uint32_t name_index, const live::FrameHeader& frame);
    void write(const live::FrameHeader& frame, const uint8_t* payload, size_t payload_bytes);
    void write_names();

    std::filesystem::path folder_;
    bool folder_created_ = false;
    uint8_t* base_ = nullptr;
    uint64_t bytes_ = 0;
    std::unique_ptr<live::Reader> reader_;
    std::vector<uint8_t> frame_;
    std::vector<std::unique_ptr<Series>> series_;
    std::vector<Series*> by_index_;  // name index -> series
    uint64_t lost_ = 0;              // frames that did not make sense (a torn name table)
};

// NAME as a file name stem that every file system takes: letters, digits, '_' and '-' kept, any
// other byte '_' (so no '.', which would collide with the .sample_numbers / .x suffixes), never a
// Windows device name; TAKEN (compared case-insensitively) is avoided with a -2, -3... suffix.
std::string safe_file_stem(const std::string& name, const std::vector<std::string>& taken);

}  // namespace pyproc::host
