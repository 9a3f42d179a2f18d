// Reading an Open Ephys binary recording (GUI 0.6+ layout) block by block, and
// open_source(), which picks the synthetic or the recording source.

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <stdexcept>

#include "json.h"
#include "npy.h"
#include "streams.h"

namespace pyproc::host {

using common::JsonValue;
using common::load_json_file;

// Defined in synthetic_source.cpp.
std::unique_ptr<Source> make_synthetic_source(const std::string& spec);

namespace {

namespace fs = std::filesystem;

constexpr int kMaxSearchDepth = 6;  // e.g. parent/session/Record Node 101/experiment1/recording1

std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

// Orders names as people do: "recording2" before "recording10".
bool natural_less(const std::string& a, const std::string& b) {
    size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
            const size_t a_end = a.find_first_not_of("0123456789", i);
            const size_t b_end = b.find_first_not_of("0123456789", j);
            std::string a_digits = a.substr(i, a_end - i), b_digits = b.substr(j, b_end - j);
            a_digits.erase(0, std::min(a_digits.find_first_not_of('0'), a_digits.size() - 1));
            b_digits.erase(0, std::min(b_digits.find_first_not_of('0'), b_digits.size() - 1));
            if (a_digits.size() != b_digits.size()) return a_digits.size() < b_digits.size();
            if (a_digits != b_digits) return a_digits < b_digits;
            i = a_end == std::string::npos ? a.size() : a_end;
            j = b_end == std::string::npos ? b.size() : b_end;
        } else {
            if (a[i] != b[j]) return a[i] < b[j];
            ++i;
            ++j;
        }
    }
    return a.size() - i < b.size() - j;
}

// The first structure.oebin in FOLDER or below it, searching subfolders in
// natural order so the choice does not depend on the file system.
std::optional<fs::path> find_oebin(const fs::path& folder, int depth_left) {
    std::error_code error;
    if (fs::is_regular_file(folder / "structure.oebin", error)) return folder / "structure.oebin";
    if (depth_left == 0) return std::nullopt;
    std::vector<fs::path> subfolders;
    for (fs::directory_iterator it(folder, fs::directory_options::skip_permission_denied, error), end;
         !error && it != end; it.increment(error)) {
        if (it->is_directory(error)) subfolders.push_back(it->path());
    }
    std::sort(subfolders.begin(), subfolders.end(), [](const fs::path& a, const fs::path& b) {
        return natural_less(a.filename().string(), b.filename().string());
    });
    for (const fs::path& subfolder : subfolders)
        if (auto found = find_oebin(subfolder, depth_left - 1)) return found;
    return std::nullopt;
}

std::string without_trailing_slashes(std::string folder) {
    while (!folder.empty() && (folder.back() == '/' || folder.back() == '\\')) folder.pop_back();
    return folder;
}

// A folder named in structure.oebin, checked to stay inside the recording: relative, no "..".
std::string inner_folder(const std::string& key, std::string folder) {
    folder = without_trailing_slashes(folder);
    const fs::path path = fs::u8path(folder);
    bool escapes = folder.empty() || path.is_absolute() || path.has_root_name() || path.has_root_directory();
    for (const auto& part : path) escapes = escapes || part == "..";
    if (escapes) throw std::runtime_error(key + " '" + folder + "' is not a folder inside the recording");
    return folder;
}

// The processor id in a folder name like "File_Reader-100.example_data/TTL/".
std::optional<int32_t> processor_id_of_folder(const std::string& folder_name) {
    const std::string processor = folder_name.substr(0, folder_name.find_first_of("./\\"));
    const size_t dash = processor.rfind('-');
    if (dash == std::string::npos || dash + 1 == processor.size()) return std::nullopt;
    char* end = nullptr;
    const long id = std::strtol(processor.c_str() + dash + 1, &end, 10);
    if (*end != '\0') return std::nullopt;
    return static_cast<int32_t>(id);
}

// Optional members: the fallback if KEY is absent, an error if it has the wrong type.
std::string string_or(const JsonValue& object, const std::string& key, const std::string& fallback) {
    return object.find(key) ? object.string_at(key) : fallback;
}

int32_t int_or(const JsonValue& object, const std::string& key, int32_t fallback) {
    return object.find(key) ? static_cast<int32_t>(object.int_at(key)) : fallback;
}

// What structure.oebin says about the first continuous stream and the event
// and spike channels that belong to it.
struct EventEntry {
    std::string folder_name;
    std::string channel_name;
    int32_t source_node = 0;
};

struct SpikeEntry {
    std::string folder;
    std::string electrode;
    int32_t source_node = 0;
    double bit_volts = 1.0;
};

struct Layout {
    fs::path recording_dir;
    std::string continuous_folder;
    StreamInfo info;
    std::vector<EventEntry> events;
    std::vector<SpikeEntry> spikes;
};

void read_continuous_entry(const JsonValue& oebin, Layout& layout) {
    const JsonValue::Array& streams = oebin.array_at("continuous");
    if (streams.empty()) throw std::runtime_error("it lists no continuous stream");
    const JsonValue& stream = streams.front();
    layout.continuous_folder = inner_folder("folder_name", stream.string_at("folder_name"));
    StreamInfo& info = layout.info;
    info.name = string_or(stream, "stream_name", layout.continuous_folder);
    info.sample_rate = stream.number_at("sample_rate");
    if (!(info.sample_rate > 0)) throw std::runtime_error("stream '" + info.name + "' has no positive sample_rate");
    info.source_node_id = int_or(stream, "source_processor_id", 100);
    info.source_node_name = string_or(stream, "source_processor_name", "");
    const int64_t num_channels = stream.int_at("num_channels");
    const JsonValue::Array& channels = stream.array_at("channels");
    if (num_channels < 1 || static_cast<size_t>(num_channels) != channels.size())
        throw std::runtime_error("stream '" + info.name + "' has num_channels " + std::to_string(num_channels) +
                                 " but lists " + std::to_string(channels.size()) + " channels");
    for (const JsonValue& channel : channels) {
        info.channel_names.push_back(channel.string_at("channel_name"));
        info.bit_volts.push_back(channel.number_at("bit_volts"));
        if (!(info.bit_volts.back() > 0) || !std::isfinite(info.bit_volts.back()))
            throw std::runtime_error("channel '" + info.channel_names.back() + "' has bit_volts " +
                                     channel.at("bit_volts").dump() + ", not a positive number");
    }
}

void read_event_entries(const JsonValue& oebin, Layout& layout) {
    if (!oebin.find("events")) return;
    for (const JsonValue& entry : oebin.array_at("events")) {
        const std::string folder = inner_folder("folder_name", entry.string_at("folder_name"));
        const std::string last_part = folder.substr(folder.find_last_of("/\\") + 1);
        const bool is_ttl = last_part.rfind("TTL", 0) == 0;
        if (!is_ttl || string_or(entry, "stream_name", layout.info.name) != layout.info.name) continue;
        layout.events.push_back({folder, string_or(entry, "channel_name", ""),
                                 processor_id_of_folder(folder).value_or(layout.info.source_node_id)});
    }
}

void read_spike_entries(const JsonValue& oebin, Layout& layout) {
    if (!oebin.find("spikes")) return;
    for (const JsonValue& entry : oebin.array_at("spikes")) {
        if (string_or(entry, "stream_name", layout.info.name) != layout.info.name) continue;
        SpikeEntry spikes;
        spikes.folder = inner_folder("folder", entry.string_at("folder"));
        spikes.electrode = entry.string_at("name");
        spikes.source_node = int_or(entry, "source_processor_id", layout.info.source_node_id);
        // Like open-ephys-python-tools, scale every channel by the last source channel's bit_volts.
        if (entry.find("source_channels") && !entry.array_at("source_channels").empty())
            spikes.bit_volts = entry.array_at("source_channels").back().number_at("bit_volts");
        layout.spikes.push_back(std::move(spikes));
    }
}

Layout read_layout(const fs::path& oebin_path) {
    const JsonValue oebin = load_json_file(oebin_path);  // syntax errors name the file and line
    Layout layout;
    layout.recording_dir = oebin_path.parent_path();
    try {
        read_continuous_entry(oebin, layout);
        read_event_entries(oebin, layout);
        read_spike_entries(oebin, layout);
    } catch (const std::runtime_error& error) {
        throw std::runtime_error(quoted(oebin_path) + " is not a usable structure.oebin: " + error.what());
    }
    return layout;
}

std::vector<TtlEvent> load_ttl_events(const fs::path& events_dir, const EventEntry& entry) {
    const fs::path states_path = events_dir / entry.folder_name / "states.npy";
    const fs::path samples_path = events_dir / entry.folder_name / "sample_numbers.npy";
    if (!fs::exists(states_path) && !fs::exists(samples_path)) return {};  // a channel without events
    if (!fs::exists(states_path) || !fs::exists(samples_path))
        throw std::runtime_error(quoted(fs::exists(states_path) ? samples_path : states_path) +
                                 " is missing, while the other file of its event channel is there");
    const auto states = load_npy_as<int16_t>(states_path);
    const auto sample_numbers = load_npy_as<int64_t>(samples_path);
    if (states.size() != sample_numbers.size())
        throw std::runtime_error(quoted(states_path) + " holds " + std::to_string(states.size()) +
                                 " states but sample_numbers.npy beside it holds " +
                                 std::to_string(sample_numbers.size()) + " sample numbers");
    std::vector<TtlEvent> events;
    for (size_t i = 0; i < states.size(); ++i) {
        const int line_plus_one = std::abs(states[i]);
        if (line_plus_one < 1 || line_plus_one > 256)
            throw std::runtime_error(quoted(states_path) + " holds the state " + std::to_string(states[i]) +
                                     ", not +-(line + 1) for a line from 0 to 255");
        events.push_back({sample_numbers[i], static_cast<uint8_t>(line_plus_one - 1), states[i] > 0,
                          entry.source_node, entry.channel_name});
    }
    return events;
}

std::vector<Spike> load_spikes(const fs::path& spikes_dir, const SpikeEntry& entry) {
    const fs::path folder = spikes_dir / entry.folder;
    if (!fs::exists(folder / "waveforms.npy") || !fs::exists(folder / "sample_numbers.npy")) return {};
    std::vector<size_t> shape;
    const auto waveforms = load_npy_as<double>(folder / "waveforms.npy", &shape);
    const auto sample_numbers = load_npy_as<int64_t>(folder / "sample_numbers.npy");
    std::vector<uint16_t> clusters;
    if (fs::exists(folder / "clusters.npy")) clusters = load_npy_as<uint16_t>(folder / "clusters.npy");

    // (spikes, channels, samples); a 2-D file has one channel, a 1-D file one spike.
    if (shape.size() == 1) shape = {1, 1, shape[0]};
    else if (shape.size() == 2) shape = {shape[0], 1, shape[1]};
    if (shape.size() != 3 || shape[0] != sample_numbers.size() || (!clusters.empty() && clusters.size() != shape[0]))
        throw std::runtime_error(quoted(folder) + " holds waveforms.npy, sample_numbers.npy and clusters.npy " +
                                 "with inconsistent spike counts");
    const size_t values_per_spike = shape[1] * shape[2];
    std::vector<Spike> spikes(shape[0]);
    for (size_t i = 0; i < spikes.size(); ++i) {
        Spike& spike = spikes[i];
        spike.sample_number = sample_numbers[i];
        spike.electrode = entry.electrode;
        spike.source_node = entry.source_node;
        spike.sorted_id = clusters.empty() ? 0 : clusters[i];
        spike.num_channels = static_cast<int32_t>(shape[1]);
        spike.num_samples = static_cast<int32_t>(shape[2]);
        spike.waveform.resize(values_per_spike);
        for (size_t v = 0; v < values_per_spike; ++v)
            spike.waveform[v] = static_cast<float>(waveforms[i * values_per_spike + v] * entry.bit_volts);
    }
    return spikes;
}

template <typename Item>
void sort_by_sample_number(std::vector<Item>& items) {
    std::stable_sort(items.begin(), items.end(),
                     [](const Item& a, const Item& b) { return a.sample_number < b.sample_number; });
}

// Moves the items with sample numbers in [begin, end) from SORTED (starting at
// NEXT) into OUT; items before BEGIN lie outside the recording and are dropped.
template <typename Item>
void take_items_before(std::vector<Item>& sorted, size_t& next, int64_t begin, int64_t end, std::vector<Item>& out) {
    out.clear();
    for (; next < sorted.size() && sorted[next].sample_number < end; ++next)
        if (sorted[next].sample_number >= begin) out.push_back(std::move(sorted[next]));
}

class RecordingSource : public Source {
public:
    RecordingSource(const fs::path& oebin_path, int32_t block_size)
        : layout_(read_layout(oebin_path)), block_size_(block_size) {
        open_continuous_data();
        read_first_sample_number();
        for (const EventEntry& entry : layout_.events) {
            auto events = load_ttl_events(layout_.recording_dir / "events", entry);
            events_.insert(events_.end(), events.begin(), events.end());
        }
        for (const SpikeEntry& entry : layout_.spikes) {
            auto spikes = load_spikes(layout_.recording_dir / "spikes", entry);
            spikes_.insert(spikes_.end(), std::make_move_iterator(spikes.begin()), std::make_move_iterator(spikes.end()));
        }
        sort_by_sample_number(events_);
        sort_by_sample_number(spikes_);
    }

    const StreamInfo& info() const override { return layout_.info; }
    int32_t block_size() const override { return block_size_; }

    bool next_block(Block& block) override {
        const StreamInfo& info = layout_.info;
        if (rows_read_ >= info.num_samples) return false;
        const int32_t num_channels = info.num_channels();
        const auto rows = static_cast<int32_t>(std::min<int64_t>(block_size_, info.num_samples - rows_read_));
        raw_.resize(static_cast<size_t>(rows) * num_channels);
        dat_.read(reinterpret_cast<char*>(raw_.data()), static_cast<std::streamsize>(raw_.size() * sizeof(int16_t)));
        if (static_cast<size_t>(dat_.gcount()) != raw_.size() * sizeof(int16_t))
            throw std::runtime_error(quoted(dat_path_) + " ended early (was it truncated while being read?)");

        block.first_sample_number = info.first_sample_number + rows_read_;
        block.num_samples = rows;
        block.stride = block_size_;
        block.data.assign(static_cast<size_t>(num_channels) * block_size_, 0.0f);
        for (int32_t c = 0; c < num_channels; ++c) {
            float* channel = block.channel(c);
            const double bit_volts = info.bit_volts[c];
            for (int32_t s = 0; s < rows; ++s)
                channel[s] = static_cast<float>(raw_[static_cast<size_t>(s) * num_channels + c] * bit_volts);
        }
        const int64_t end = block.first_sample_number + rows;
        take_items_before(events_, next_event_, block.first_sample_number, end, block.events);
        take_items_before(spikes_, next_spike_, block.first_sample_number, end, block.spikes);
        rows_read_ += rows;
        return true;
    }

private:
    Layout layout_;
    int32_t block_size_;
    fs::path dat_path_;
    std::ifstream dat_;
    int64_t rows_read_ = 0;
    std::vector<int16_t> raw_;
    std::vector<TtlEvent> events_;
    size_t next_event_ = 0;
    std::vector<Spike> spikes_;
    size_t next_spike_ = 0;

    fs::path continuous_dir() const { return layout_.recording_dir / "continuous" / layout_.continuous_folder; }

    void open_continuous_data() {
        dat_path_ = continuous_dir() / "continuous.dat";
        std::error_code error;
        const auto bytes = fs::file_size(dat_path_, error);
        if (error) throw std::runtime_error("the continuous data file " + quoted(dat_path_) + " is missing");
        const auto bytes_per_row = static_cast<uintmax_t>(layout_.info.num_channels()) * sizeof(int16_t);
        if (bytes % bytes_per_row != 0)
            throw std::runtime_error(quoted(dat_path_) + " holds " + std::to_string(bytes) +
                                     " bytes, not a whole number of rows of " +
                                     std::to_string(layout_.info.num_channels()) +
                                     " int16 channels (does num_channels in structure.oebin match?)");
        layout_.info.num_samples = static_cast<int64_t>(bytes / bytes_per_row);
        if (layout_.info.num_samples == 0) throw std::runtime_error(quoted(dat_path_) + " holds no samples");
        dat_.open(dat_path_, std::ios::binary);
        if (!dat_) throw std::runtime_error(quoted(dat_path_) + " cannot be opened");
    }

    void read_first_sample_number() {
        const fs::path path = continuous_dir() / "sample_numbers.npy";
        if (!fs::exists(path)) return;  // then the recording starts at sample 0
        const NpyHeader header = read_npy_header(path);
        if (header.shape.size() != 1 || header.descr.size() < 2 || (header.descr[1] != 'i' && header.descr[1] != 'u'))
            throw std::runtime_error(quoted(path) + " holds " + header.descr + " values of " +
                                     std::to_string(header.shape.size()) + " dimensions, not one row of integers");
        const auto first = load_npy_as<int64_t>(path, nullptr, 1);
        if (!first.empty()) layout_.info.first_sample_number = first.front();
    }
};

}  // namespace

std::unique_ptr<Source> open_source(const std::string& spec, int32_t default_block_size) {
    if (spec.rfind("synthetic:", 0) == 0 || spec == "synthetic") return make_synthetic_source(spec);
    if (default_block_size < 1)
        throw std::runtime_error("the block size must be at least 1 sample, not " + std::to_string(default_block_size));
    const fs::path path(spec);
    std::error_code error;
    fs::path oebin;
    if (fs::is_regular_file(path, error) && path.filename() == "structure.oebin") {
        oebin = path;
    } else if (fs::is_directory(path, error)) {
        auto found = find_oebin(path, kMaxSearchDepth);
        if (!found)
            throw std::runtime_error("'" + spec + "' holds no Open Ephys binary recording (no structure.oebin found)");
        oebin = *found;
    } else {
        throw std::runtime_error("input '" + spec + "' is neither synthetic:... nor an existing recording folder");
    }
    return std::make_unique<RecordingSource>(oebin, default_block_size);
}

}  // namespace pyproc::host
