#include "published_writer.h"

#include "safe_name.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "json.h"

namespace pyproc::host {

using common::JsonValue;

namespace fs = std::filesystem;

namespace {

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
    return text;
}

// Bytes of the values of a frame (without x).
uint64_t value_bytes(const live::FrameHeader& frame) {
    switch (frame.kind) {
        case live::kScalar: return sizeof(double);
        case live::kCurve: return uint64_t{frame.shape[0]} * sizeof(float);
        case live::kImage: return uint64_t{frame.shape[0]} * frame.shape[1] * sizeof(float);
        default: return uint64_t{frame.shape[0]} * frame.shape[1] * 4;  // RGBA
    }
}

}  // namespace

std::string safe_file_stem(const std::string& name, const std::vector<std::string>& taken) {
    std::string stem;
    for (const char c : name) {
        const auto byte = static_cast<unsigned char>(c);
        stem += byte < 0x80 && (std::isalnum(byte) || c == '_' || c == '-') ? c : '_';
    }
    stem = safe_path_component(stem, "_");  // bounded, not a device name
    std::vector<std::string> used;
    for (const auto& other : taken) used.push_back(lower(other));
    std::string candidate = stem;
    for (int suffix = 2; std::find(used.begin(), used.end(), lower(candidate)) != used.end(); ++suffix)
        candidate = stem + "-" + std::to_string(suffix);
    return candidate;
}

PublishedWriter::PublishedWriter(const std::string& ring_path, fs::path folder) : folder_(std::move(folder)) {
    by_index_.assign(live::kNameSlots, nullptr);
    if (ring_path.empty()) return;
    std::string error;
    base_ = live::RingFile::map_existing(ring_path, &bytes_, &error);
    if (!base_) throw std::runtime_error("cannot read the published values: " + error);
    if (!live::usable_header(base_, bytes_)) {
        live::RingFile::unmap(base_, bytes_);
        base_ = nullptr;
        throw std::runtime_error("cannot read the published values: " + ring_path + " is not a live ring");
    }
    reader_ = std::make_unique<live::Reader>(live::Ring(base_), true);
}

PublishedWriter::~PublishedWriter() {
    try {
        finish();
    } catch (...) {
        // A destructor must not throw; run_host calls finish() itself.
    }
}

void PublishedWriter::drain() {
    if (!reader_) return;
    const uint64_t until = reader_->written();
    while (reader_->next(&frame_, until)) {
        if (frame_.size() < live::kFrameHeaderBytes) {
            ++lost_;
            continue;
        }
        live::FrameHeader header;
        std::memcpy(&header, frame_.data(), sizeof header);
        if (header.kind == live::kEvent) continue;  // TTL events: in the recording already
        write(header, frame_.data() + live::kFrameHeaderBytes, frame_.size() - live::kFrameHeaderBytes);
    }
}

PublishedWriter::Series& PublishedWriter::series_for(uint32_t name_index, const live::FrameHeader& frame) {
    Series*& known = by_index_[name_index];
    if (known) return *known;
    auto series = std::make_unique<Series>();
    const live::NameEntry& entry = live::Ring(base_).name(name_index);
    series->name = std::string(entry.name, strnlen(entry.name, live::kNameBytes));
    std::vector<std::string> taken;
    for (const auto& other : series_) taken.push_back(other->file);
    series->file = safe_file_stem(series->name, taken);
    series->kind = frame.kind;
    series->ndim = frame.ndim;
    series->shape[0] = frame.shape[0];
    series->shape[1] = frame.shape[1];
    if (!folder_.empty()) {
        if (!folder_created_) {
            fs::create_directories(folder_);
            folder_created_ = true;
        }
        std::vector<size_t> row_shape;
        const char* descr = "<f4";
        size_t item_size = sizeof(float);
        switch (frame.kind) {
            case live::kScalar: descr = "<f8"; item_size = sizeof(double); break;
            case live::kCurve: row_shape = {frame.shape[0]}; break;
            case live::kImage: row_shape = {frame.shape[0], frame.shape[1]}; break;
            default: descr = "|u1"; item_size = 1; row_shape = {frame.shape[0], frame.shape[1], 4}; break;
        }
        series->values = std::make_unique<NpyByteWriter>(folder_ / (series->file + ".npy"), descr, item_size, row_shape);
        series->sample_numbers = std::make_unique<NpyWriter<int64_t>>(folder_ / (series->file + ".sample_numbers.npy"));
    }
    known = series.get();
    series_.push_back(std::move(series));
    return *known;
}

void PublishedWriter::write(const live::FrameHeader& frame, const uint8_t* payload, size_t payload_bytes) {
    const uint64_t values = value_bytes(frame);
    const uint64_t x_bytes = frame.kind == live::kCurve && frame.has_x ? uint64_t{frame.shape[0]} * sizeof(float) : 0;
    if (frame.name_index >= live::kNameSlots || frame.kind > live::kPicture || values + x_bytes > payload_bytes) {
        ++lost_;
        return;
    }
    Series& series = series_for(frame.name_index, frame);
    if (frame.kind != series.kind || frame.ndim != series.ndim || frame.shape[0] != series.shape[0] ||
        (frame.kind != live::kCurve && frame.shape[1] != series.shape[1])) {
        ++series.other_shape;
        return;
    }
    ++series.written;
    if (!series.values) return;
    const size_t items = frame.kind == live::kPicture ? values : frame.kind == live::kScalar ? 1 : values / sizeof(float);
    series.values->append_items(payload, items);
    series.sample_numbers->append(frame.sample_number);
    if (x_bytes && !series.x_written) {
        std::vector<float> x(frame.shape[0]);
        std::memcpy(x.data(), payload + values, x_bytes);
        save_npy(folder_ / (series.file + ".x.npy"), x);
        series.x_written = true;
    }
}

void PublishedWriter::write_names() {
    if (!folder_created_) return;
    JsonValue names = JsonValue::Object{};
    for (const auto& series : series_) names.set(series->file, series->name);
    std::ofstream file(folder_ / "names.json", std::ios::binary | std::ios::trunc);
    file << names.dump(2) << "\n";
    if (!file) throw std::runtime_error("cannot write " + (folder_ / "names.json").u8string());
}

void PublishedWriter::finish() {
    if (!base_) return;
    drain();
    for (const auto& series : series_) {
        if (series->values) series->values->close();
        if (series->sample_numbers) series->sample_numbers->close();
    }
    write_names();
    lost_ += reader_->lost();
    reader_.reset();
    live::RingFile::unmap(base_, bytes_);
    base_ = nullptr;
}

}  // namespace pyproc::host
