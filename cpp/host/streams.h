// Data the host moves through the engine: a block-wise source of continuous
// data with the TTL events and spikes that fall in each block, and a writer of
// Open Ephys binary recordings.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace pyproc::host {

struct TtlEvent {
    int64_t sample_number = 0;
    uint8_t line = 0;            // 0-255
    bool state = false;
    int32_t source_node = 0;     // id of the processor that made the event
    std::string channel_name;    // name of the event channel
};

struct Spike {
    int64_t sample_number = 0;
    std::string electrode;       // electrode name, e.g. "Electrode 1"
    int32_t source_node = 0;
    uint16_t sorted_id = 0;
    int32_t num_channels = 0;
    int32_t num_samples = 0;
    std::vector<float> waveform; // num_channels x num_samples, row-major, microvolts
};

struct StreamInfo {
    std::string name;                  // stream name, e.g. "example_data"
    double sample_rate = 0;
    int32_t source_node_id = 100;
    std::string source_node_name;      // e.g. "File Reader"
    int64_t first_sample_number = 0;
    int64_t num_samples = 0;           // total length of the source
    std::vector<std::string> channel_names;
    std::vector<double> bit_volts;     // per channel, microvolts per int16 step
    int32_t num_channels() const { return static_cast<int32_t>(channel_names.size()); }
};

// One block of continuous data, laid out like the GUI's AudioBuffer: channel c
// starts at data[c * stride], so channel pointers are evenly spaced in memory.
struct Block {
    int64_t first_sample_number = 0;
    int32_t num_samples = 0;
    int32_t stride = 0;                // capacity per channel, >= num_samples
    std::vector<float> data;           // num_channels * stride, microvolts
    std::vector<TtlEvent> events;      // events whose sample number lies in this block
    std::vector<Spike> spikes;         // spikes whose sample number lies in this block

    float* channel(int32_t c) { return data.data() + static_cast<size_t>(c) * stride; }
};

class Source {
public:
    virtual ~Source() = default;
    virtual const StreamInfo& info() const = 0;
    virtual int32_t block_size() const = 0;
    // Fills the next block of at most block_size() samples; false at the end.
    // Resizes block.data to num_channels * block_size() and sets stride = block_size().
    virtual bool next_block(Block& block) = 0;
};

// SOURCE is "synthetic:channels=C,rate=HZ,seconds=S,block=B[,seed=N]" or the
// folder of an Open Ephys binary recording (a recording folder holding
// structure.oebin, or any folder above one: the first recording found is used).
// Recordings are read in blocks of default_block_size samples.
// Throws std::runtime_error with a one-sentence reason on bad input.
std::unique_ptr<Source> open_source(const std::string& spec, int32_t default_block_size);

// Writes one Open Ephys binary recording (GUI 1.0 layout) under
// <folder>/Record Node <id>/experiment1/recording1, block by block.
class RecordingWriter {
public:
    // Refuses a folder that already holds a recording (nothing is overwritten).
    RecordingWriter(const std::filesystem::path& folder, const StreamInfo& stream);
    ~RecordingWriter();
    RecordingWriter(const RecordingWriter&) = delete;
    RecordingWriter& operator=(const RecordingWriter&) = delete;

    // An event channel for TTL events of one processor (source_node), returns its index.
    int add_event_channel(int32_t source_node, const std::string& processor_name);
    // A spike channel of one processor, returns its index.
    int add_spike_channel(int32_t source_node, const std::string& processor_name,
                          const std::string& electrode, int32_t num_channels, int32_t num_samples);

    // Continuous data only; DERIVED: one pointer of block.num_samples floats per added channel.
    void write_block(const Block& block, const std::vector<const float*>& derived = {});
    void write_events(int channel, const std::vector<TtlEvent>& events);
    void write_spikes(int channel, const std::vector<Spike>& spikes);
    // A continuous channel a module adds to the stream (a derived channel), recorded after the stream's
    // own and those added before it; only before the first block.
    void add_derived_channel(const std::string& name, const std::string& description, const std::string& unit,
                             double bit_volts, const std::string& processor_name);
    // Writes structure.oebin and closes every file; called by the destructor if needed.
    void finish();
    const std::filesystem::path& recording_dir() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace pyproc::host
