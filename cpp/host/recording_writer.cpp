// Writing an Open Ephys binary recording in the layout of GUI 1.0's Record
// Node, so open-ephys-python-tools (and recording_source.cpp) can read it.
// Every file is written incrementally; structure.oebin is written last.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>

#include "json.h"
#include "npy.h"
#include "safe_name.h"
#include "streams.h"

namespace pyproc::host {

using common::JsonValue;
namespace {

namespace fs = std::filesystem;

constexpr int32_t kRecordNodeId = 200;
constexpr const char* kGuiVersion = "1.0.1";
constexpr const char* kRecordNodeName = "Record Node";

std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

// The GUI's folder name for a processor's stream, e.g. "File_Reader-100.example_data".
std::string processor_folder(const std::string& processor_name, int32_t node_id, const std::string& stream_name) {
    std::string name = processor_name;
    std::replace_if(name.begin(), name.end(), [](char c) { return c == ' ' || c == '@'; }, '_');
    return safe_path_component(name + "-" + std::to_string(node_id) + "." + stream_name, "processor");
}

// Microvolts to the int16 steps stored on disk: nearest, ties to even.
int16_t to_int16_steps(float microvolts, double bit_volts) {
    const double steps = std::nearbyint(static_cast<double>(microvolts) / bit_volts);
    if (std::isnan(steps)) return 0;
    return static_cast<int16_t>(std::clamp(steps, -32768.0, 32767.0));
}

void validate_stream(const StreamInfo& stream) {
    if (stream.num_channels() < 1) throw std::runtime_error("cannot record a stream without channels");
    if (stream.bit_volts.size() != stream.channel_names.size())
        throw std::runtime_error("stream '" + stream.name + "' has " + std::to_string(stream.channel_names.size()) +
                                 " channel names but " + std::to_string(stream.bit_volts.size()) + " bit_volts values");
    for (double bit_volts : stream.bit_volts)
        if (!(bit_volts > 0)) throw std::runtime_error("stream '" + stream.name + "' has a bit_volts value that is not positive");
    if (!(stream.sample_rate > 0)) throw std::runtime_error("stream '" + stream.name + "' has no positive sample rate");
}

void refuse_existing_recording(const fs::path& folder) {
    std::error_code error;
    if (!fs::exists(folder, error)) return;
    if (!fs::is_directory(folder, error))
        throw std::runtime_error("cannot record into " + quoted(folder) + ": it is a file, not a folder; nothing was written");
    const fs::path record_node = folder / (std::string(kRecordNodeName) + " " + std::to_string(kRecordNodeId));
    if (fs::exists(record_node, error))
        throw std::runtime_error("refusing to record into " + quoted(folder) + ": it already holds " +
                                 quoted(record_node.filename()) + "; nothing was overwritten");
    for (fs::recursive_directory_iterator it(folder, fs::directory_options::skip_permission_denied, error), end;
         !error && it != end; it.increment(error)) {
        if (it->path().filename() == "structure.oebin")
            throw std::runtime_error("refusing to record into " + quoted(folder) + ": it already holds a recording (" +
                                     quoted(it->path()) + "); nothing was overwritten");
    }
}

fs::path create_folder(const fs::path& folder) {
    std::error_code error;
    fs::create_directories(folder, error);
    if (error) throw std::runtime_error("cannot create the folder " + quoted(folder) + ": " + error.message());
    return folder;
}

struct ContinuousFiles {
    fs::path dat_path;
    std::ofstream dat;
    NpyWriter<int64_t> sample_numbers;
    NpyWriter<double> timestamps;

    explicit ContinuousFiles(const fs::path& dir)
        : dat_path(dir / "continuous.dat"),
          dat(dat_path, std::ios::binary | std::ios::trunc),
          sample_numbers(dir / "sample_numbers.npy"),
          timestamps(dir / "timestamps.npy") {
        if (!dat) throw std::runtime_error(quoted(dat_path) + " cannot be created");
    }
    void close() {
        if (dat.is_open()) {
            dat.close();
            if (!dat) throw std::runtime_error(quoted(dat_path) + " could not be written completely");
        }
        sample_numbers.close();
        timestamps.close();
    }
};

struct EventChannel {
    int32_t source_node;
    std::string processor_name;
    std::string folder_name;   // below events/, e.g. "File_Reader-100.example_data/TTL"
    std::string channel_name;  // taken from the first event written
    uint64_t word = 0;         // current state of all lines, bit n = line n
    NpyWriter<int16_t> states;
    NpyWriter<int64_t> sample_numbers;
    NpyWriter<double> timestamps;
    NpyWriter<uint64_t> full_words;

    EventChannel(int32_t node, std::string processor, std::string folder, const fs::path& dir)
        : source_node(node), processor_name(std::move(processor)), folder_name(std::move(folder)),
          states(dir / "states.npy"), sample_numbers(dir / "sample_numbers.npy"),
          timestamps(dir / "timestamps.npy"), full_words(dir / "full_words.npy") {}
    void close() {
        states.close();
        sample_numbers.close();
        timestamps.close();
        full_words.close();
    }
};

struct SpikeChannel {
    int32_t source_node;
    std::string electrode;
    std::string folder;        // below spikes/, e.g. "Spike_Detector-102.example_data/Electrode 1"
    int32_t num_channels;
    int32_t num_samples;
    NpyWriter<float> waveforms;  // microvolts, so source_channels list bit_volts 1.0
    NpyWriter<int64_t> sample_numbers;
    NpyWriter<double> timestamps;
    NpyWriter<uint16_t> electrode_indices;
    NpyWriter<uint16_t> clusters;

    SpikeChannel(int32_t node, std::string name, std::string folder_name, int32_t channels, int32_t samples,
                 const fs::path& dir)
        : source_node(node), electrode(std::move(name)), folder(std::move(folder_name)), num_channels(channels),
          num_samples(samples),
          waveforms(dir / "waveforms.npy", {static_cast<size_t>(channels), static_cast<size_t>(samples)}),
          sample_numbers(dir / "sample_numbers.npy"), timestamps(dir / "timestamps.npy"),
          electrode_indices(dir / "electrode_indices.npy"), clusters(dir / "clusters.npy") {}
    void close() {
        waveforms.close();
        sample_numbers.close();
        timestamps.close();
        electrode_indices.close();
        clusters.close();
    }
};

}  // namespace

// A channel a module added to the stream, as the GUI's Python Processor adds it.
struct DerivedChannel {
    std::string name, description, unit, processor_name;
    double bit_volts;
};

struct RecordingWriter::Impl {
    fs::path recording_dir;
    StreamInfo stream;
    std::vector<DerivedChannel> derived;
    std::string continuous_folder;
    std::unique_ptr<ContinuousFiles> continuous;
    std::vector<int16_t> interleaved;       // one block, reused
    std::optional<int64_t> first_sample_number;
    std::vector<std::unique_ptr<EventChannel>> event_channels;
    std::vector<std::unique_ptr<SpikeChannel>> spike_channels;
    std::set<std::string> used_folders;
    int64_t start_time_ms = 0;
    bool finished = false;

    Impl(const fs::path& dir, const StreamInfo& info) : recording_dir(dir), stream(info) {
        continuous_folder = processor_folder(stream.source_node_name, stream.source_node_id, stream.name);
        continuous = std::make_unique<ContinuousFiles>(create_folder(recording_dir / "continuous" / continuous_folder));
        start_time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    }

    void require_open() const {
        if (finished) throw std::runtime_error("the recording in " + quoted(recording_dir) + " is already finished");
    }

    // FOLDER, or FOLDER_2, FOLDER_3 ... if it is taken, as the GUI does for TTL folders.
    std::string unique_folder(const std::string& folder) {
        std::string candidate = folder;
        for (int n = 1; used_folders.count(candidate); ++n) candidate = folder + "_" + std::to_string(n);
        used_folders.insert(candidate);
        return candidate;
    }

    double seconds_of(int64_t sample_number) const { return static_cast<double>(sample_number) / stream.sample_rate; }

    void write_sync_messages() const {
        const fs::path path = recording_dir / "sync_messages.txt";
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out << "Software Time (milliseconds since midnight Jan 1st 1970 UTC): " << start_time_ms << "\r\n"
            << "Start Time for " << stream.source_node_name << " (" << stream.source_node_id << ") - " << stream.name
            << " @ " << std::llround(stream.sample_rate) << " Hz: "
            << first_sample_number.value_or(stream.first_sample_number) << "\r\n";
        if (!out) throw std::runtime_error(quoted(path) + " could not be written");
    }

    JsonValue continuous_json() const {
        JsonValue channels{JsonValue::Array{}};
        for (int32_t c = 0; c < stream.num_channels(); ++c) {
            JsonValue channel;
            channel.set("channel_name", stream.channel_names[c]);
            channel.set("description", "Continuous data channel");
            channel.set("identifier", "genericdata.continuous");
            channel.set("history", stream.source_node_name + " -> " + kRecordNodeName);
            channel.set("bit_volts", stream.bit_volts[c]);
            channel.set("units", "uV");
            channels.push_back(std::move(channel));
        }
        for (const auto& added : derived) {
            JsonValue channel;
            channel.set("channel_name", added.name);
            channel.set("description", added.description);
            channel.set("identifier", "dataderived.python." + added.name);
            channel.set("history", stream.source_node_name + " -> " + added.processor_name + " -> " + kRecordNodeName);
            channel.set("bit_volts", added.bit_volts);
            channel.set("units", added.unit);
            channels.push_back(std::move(channel));
        }
        JsonValue entry;
        entry.set("folder_name", continuous_folder + "/");
        entry.set("sample_rate", stream.sample_rate);
        entry.set("source_processor_name", stream.source_node_name);
        entry.set("source_processor_id", stream.source_node_id);
        entry.set("stream_name", stream.name);
        entry.set("recorded_processor", kRecordNodeName);
        entry.set("recorded_processor_id", kRecordNodeId);
        entry.set("num_channels", stream.num_channels() + static_cast<int32_t>(derived.size()));
        entry.set("channels", std::move(channels));
        return JsonValue::Array{std::move(entry)};
    }

    JsonValue events_json() const {
        JsonValue entries{JsonValue::Array{}};
        for (const auto& channel : event_channels) {
            JsonValue entry;
            entry.set("folder_name", channel->folder_name + "/");
            entry.set("channel_name", channel->channel_name.empty() ? channel->processor_name + " TTL"
                                                                    : channel->channel_name);
            entry.set("description", "TTL events of " + channel->processor_name);
            entry.set("identifier", "genericevent.ttl");
            entry.set("sample_rate", stream.sample_rate);
            entry.set("type", "int16");
            entry.set("source_processor", channel->processor_name);
            entry.set("stream_name", stream.name);
            entry.set("initial_state", 0);
            entries.push_back(std::move(entry));
        }
        return entries;
    }

    JsonValue spikes_json() const {
        JsonValue entries{JsonValue::Array{}};
        for (const auto& channel : spike_channels) {
            // The writer is not told which stream channels an electrode uses,
            // so the source channels are named after the electrode.
            JsonValue source_channels{JsonValue::Array{}};
            for (int32_t k = 0; k < channel->num_channels; ++k) {
                JsonValue source;
                source.set("name", channel->electrode + " channel " + std::to_string(k + 1));
                source.set("local_index", k);
                source.set("bit_volts", 1.0);
                source_channels.push_back(std::move(source));
            }
            // Waveforms are taken to start 10 samples before the peak, as the
            // synthetic source cuts them.
            const int32_t pre_peak = std::min(10, channel->num_samples);
            JsonValue entry;
            entry.set("name", channel->electrode);
            entry.set("description", "Spike waveforms in microvolts");
            entry.set("identifier", "genericspike.electrode");
            entry.set("source_processor_id", channel->source_node);
            entry.set("stream_name", stream.name);
            entry.set("sample_rate", stream.sample_rate);
            entry.set("num_channels", channel->num_channels);
            entry.set("pre_peak_samples", pre_peak);
            entry.set("post_peak_samples", channel->num_samples - pre_peak);
            entry.set("folder", channel->folder + "/");
            entry.set("source_channels", std::move(source_channels));
            entries.push_back(std::move(entry));
        }
        return entries;
    }

    void write_structure_oebin() const {
        JsonValue oebin;
        oebin.set("GUI version", kGuiVersion);
        oebin.set("continuous", continuous_json());
        oebin.set("events", events_json());
        oebin.set("spikes", spikes_json());
        const fs::path path = recording_dir / "structure.oebin";
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out << oebin.dump(2) << "\n";
        out.close();
        if (!out) throw std::runtime_error(quoted(path) + " could not be written");
    }
};

RecordingWriter::RecordingWriter(const fs::path& folder, const StreamInfo& stream) {
    validate_stream(stream);
    refuse_existing_recording(folder);
    const fs::path recording_dir = folder / (std::string(kRecordNodeName) + " " + std::to_string(kRecordNodeId)) /
                                   "experiment1" / "recording1";
    impl_ = std::make_unique<Impl>(recording_dir, stream);
}

RecordingWriter::~RecordingWriter() {
    try {
        finish();
    } catch (...) {
        // Destructors must not throw; call finish() directly to see errors.
    }
}

int RecordingWriter::add_event_channel(int32_t source_node, const std::string& processor_name) {
    impl_->require_open();
    const std::string folder =
        impl_->unique_folder(processor_folder(processor_name, source_node, impl_->stream.name) + "/TTL");
    const fs::path dir = create_folder(impl_->recording_dir / "events" / folder);
    impl_->event_channels.push_back(std::make_unique<EventChannel>(source_node, processor_name, folder, dir));
    return static_cast<int>(impl_->event_channels.size() - 1);
}

int RecordingWriter::add_spike_channel(int32_t source_node, const std::string& processor_name,
                                       const std::string& electrode, int32_t num_channels, int32_t num_samples) {
    impl_->require_open();
    if (num_channels < 1 || num_samples < 1)
        throw std::runtime_error("spike channel '" + electrode + "' needs at least one channel and one sample");
    const std::string folder = impl_->unique_folder(processor_folder(processor_name, source_node, impl_->stream.name) +
                                                    "/" + safe_path_component(electrode, "electrode"));
    const fs::path dir = create_folder(impl_->recording_dir / "spikes" / folder);
    impl_->spike_channels.push_back(
        std::make_unique<SpikeChannel>(source_node, electrode, folder, num_channels, num_samples, dir));
    return static_cast<int>(impl_->spike_channels.size() - 1);
}

void RecordingWriter::add_derived_channel(const std::string& name, const std::string& description,
                                          const std::string& unit, double bit_volts, const std::string& processor_name) {
    impl_->require_open();
    if (impl_->first_sample_number) throw std::runtime_error("a channel cannot be added once the recording has samples");
    if (!(bit_volts > 0)) throw std::runtime_error("derived channel '" + name + "' has a bit_volts value that is not positive");
    impl_->derived.push_back({name, description, unit, processor_name, bit_volts});
}

void RecordingWriter::write_block(const Block& block, const std::vector<const float*>& derived) {
    impl_->require_open();
    const StreamInfo& stream = impl_->stream;
    const int32_t own_channels = stream.num_channels();
    const int32_t num_channels = own_channels + static_cast<int32_t>(impl_->derived.size());
    if (derived.size() != impl_->derived.size())
        throw std::runtime_error("a block for " + quoted(impl_->recording_dir) + " has " +
                                 std::to_string(derived.size()) + " derived channels, not " +
                                 std::to_string(impl_->derived.size()));
    if (block.num_samples < 0 || block.stride < block.num_samples ||
        block.data.size() < static_cast<size_t>(own_channels) * static_cast<size_t>(block.stride))
        throw std::runtime_error("a block for " + quoted(impl_->recording_dir) + " does not hold " +
                                 std::to_string(own_channels) + " channels of " + std::to_string(block.num_samples) +
                                 " samples");
    if (block.num_samples == 0) return;
    if (!impl_->first_sample_number) impl_->first_sample_number = block.first_sample_number;

    auto& interleaved = impl_->interleaved;
    interleaved.resize(static_cast<size_t>(block.num_samples) * num_channels);
    for (int32_t c = 0; c < num_channels; ++c) {
        const bool own = c < own_channels;
        const float* channel = own ? block.data.data() + static_cast<size_t>(c) * block.stride
                                   : derived[static_cast<size_t>(c - own_channels)];
        const double bit_volts = own ? stream.bit_volts[c] : impl_->derived[static_cast<size_t>(c - own_channels)].bit_volts;
        for (int32_t s = 0; s < block.num_samples; ++s)
            interleaved[static_cast<size_t>(s) * num_channels + c] = to_int16_steps(channel[s], bit_volts);
    }
    ContinuousFiles& files = *impl_->continuous;
    files.dat.write(reinterpret_cast<const char*>(interleaved.data()),
                    static_cast<std::streamsize>(interleaved.size() * sizeof(int16_t)));
    if (!files.dat) throw std::runtime_error(quoted(files.dat_path) + " could not be written (disk full?)");
    for (int32_t s = 0; s < block.num_samples; ++s) {
        const int64_t sample_number = block.first_sample_number + s;
        files.sample_numbers.append(sample_number);
        files.timestamps.append(impl_->seconds_of(sample_number));
    }
}

void RecordingWriter::write_events(int channel, const std::vector<TtlEvent>& events) {
    impl_->require_open();
    if (channel < 0 || static_cast<size_t>(channel) >= impl_->event_channels.size())
        throw std::runtime_error("there is no event channel " + std::to_string(channel));
    EventChannel& out = *impl_->event_channels[channel];
    for (const TtlEvent& event : events) {
        if (out.channel_name.empty()) out.channel_name = event.channel_name;
        const uint64_t bit = event.line < 64 ? uint64_t{1} << event.line : 0;  // full words hold lines 0-63
        out.word = event.state ? (out.word | bit) : (out.word & ~bit);
        out.states.append(static_cast<int16_t>((event.line + 1) * (event.state ? 1 : -1)));
        out.sample_numbers.append(event.sample_number);
        out.timestamps.append(impl_->seconds_of(event.sample_number));
        out.full_words.append(out.word);
    }
}

void RecordingWriter::write_spikes(int channel, const std::vector<Spike>& spikes) {
    impl_->require_open();
    if (channel < 0 || static_cast<size_t>(channel) >= impl_->spike_channels.size())
        throw std::runtime_error("there is no spike channel " + std::to_string(channel));
    SpikeChannel& out = *impl_->spike_channels[channel];
    const size_t expected = static_cast<size_t>(out.num_channels) * static_cast<size_t>(out.num_samples);
    for (const Spike& spike : spikes) {
        if (spike.num_channels != out.num_channels || spike.num_samples != out.num_samples ||
            spike.waveform.size() != expected)
            throw std::runtime_error("a spike of '" + spike.electrode + "' has " + std::to_string(spike.num_channels) +
                                     " x " + std::to_string(spike.num_samples) + " samples (" +
                                     std::to_string(spike.waveform.size()) + " values) but spike channel '" +
                                     out.electrode + "' records " + std::to_string(out.num_channels) + " x " +
                                     std::to_string(out.num_samples));
        out.waveforms.append(spike.waveform);
        out.sample_numbers.append(spike.sample_number);
        out.timestamps.append(impl_->seconds_of(spike.sample_number));
        out.electrode_indices.append(static_cast<uint16_t>(channel));
        out.clusters.append(spike.sorted_id);
    }
}

void RecordingWriter::finish() {
    if (!impl_ || impl_->finished) return;
    impl_->finished = true;  // even if closing fails, a second call must not retry half-closed files
    impl_->continuous->close();
    for (auto& channel : impl_->event_channels) channel->close();
    for (auto& channel : impl_->spike_channels) channel->close();
    impl_->write_sync_messages();
    impl_->write_structure_oebin();
}

const std::filesystem::path& RecordingWriter::recording_dir() const { return impl_->recording_dir; }

}  // namespace pyproc::host
