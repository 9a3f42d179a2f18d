// pyproc-host: runs PyProcessor modules through the loader and engine, exactly
// as the GUI plugin does, on synthetic or recorded data.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#if defined(_WIN32)
#include <io.h>
#define dup _dup
#define dup2 _dup2
#define fileno _fileno
#else
#include <dlfcn.h>
#include <unistd.h>
#endif

#include "engine_text.h"
#include "isolated_engine.h"
#include "shared_layout.h"
#include "json.h"
#include "latency.h"
#include "loader.h"
#include "published_writer.h"
#include "streams.h"

namespace fs = std::filesystem;
using namespace pyproc;
using namespace pyproc::host;

namespace {

constexpr int kExitModuleErrored = 1;
constexpr int kExitUsage = 2;
constexpr int kExitPythonHome = 3;
constexpr int kExitTimeout = 4;
constexpr int32_t kFirstInstanceNode = 101;
constexpr const char* kDefaultInput = "synthetic:channels=16,rate=30000,seconds=1,block=1024";
constexpr const char* kUsage =
    "usage: pyproc-host --python-home DIR --script FILE [--script FILE...] [--instances N]\n"
    "                   [--input SOURCE] [--output DIR] [--block B] [--reload-at BLOCK] [--timeout S]\n"
    "                   [--engine-dir DIR...] [--json] [--progress] [--scattered-channels] [--measure-copy]\n"
    "                   [--latency-log FILE] [--param NAME=VALUE...] [--param-at BLOCK:NAME=VALUE...] [--realtime]\n"
    "                   [--isolated | --in-process] [--deadline-ms MS] [--stuck-after S]\n"
    "SOURCE: synthetic:channels=C,rate=HZ,seconds=S,block=B[,seed=N] or an Open Ephys binary recording folder\n"
    "exit status: 0 ok, 1 a module errored, 2 bad arguments or input, 3 unusable Python Home,\n"
    "             4 the run took longer than --timeout\n";

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Options {
    fs::path python_home;
    std::vector<std::string> scripts;
    int instances_per_script = 1;
    std::string input = kDefaultInput;
    fs::path output;
    int32_t block_size = 1024;
    long reload_at = -1;
    int timeout_seconds = 0;  // 0: none
    std::vector<fs::path> engine_dirs;
    bool json = false;
    bool progress = false;  // "@progress DONE TOTAL" lines on stderr, for oe-pyproc's progress bar
    bool scattered = false;  // channels not evenly spaced in memory: the engine's copy path
    bool measure_copy = false;  // time copying each block in and out, to compare with the engine
    bool realtime = false;      // each block waits for its wall-clock due time, as a live acquisition would
    bool isolated = false;      // each module in a worker process of its own (cpp/isolation)
    double deadline_ms = 0;     // isolated: how long a buffer waits for its module; 0: until the stuck limit
    double stuck_after_s = 10;  // isolated: a call that has not returned by then makes the module stuck
    fs::path latency_log;      // one line per process() call: node id and microseconds
    std::vector<std::pair<std::string, std::string>> params;  // module parameters' values before __init__
    struct ParamChange {
        long block;  // before this buffer, counted as --reload-at counts
        std::string name, value;
    };
    std::vector<ParamChange> param_changes;
};

std::pair<std::string, std::string> name_and_value(const std::string& flag, const std::string& text) {
    const auto equals = text.find('=');
    if (equals == std::string::npos || equals == 0)
        throw UsageError(flag + " needs NAME=VALUE, got '" + text + "'");
    return {text.substr(0, equals), text.substr(equals + 1)};
}

int positive(const std::string& flag, const std::string& value) {
    try {
        size_t used = 0;
        const long number = std::stol(value, &used);
        if (used == value.size() && number > 0 && number < (1L << 30)) return static_cast<int>(number);
    } catch (const std::exception&) {
    }
    throw UsageError(flag + " needs a positive whole number, got '" + value + "'");
}

// A positive duration (milliseconds or seconds, as the flag says), at most a day.
double seconds_or_ms(const std::string& flag, const std::string& value) {
    try {
        size_t used = 0;
        const double number = std::stod(value, &used);
        if (used == value.size() && number > 0 && number <= 86400e3) return number;
    } catch (const std::exception&) {
    }
    throw UsageError(flag + " needs a positive number, got '" + value + "'");
}

Options parse(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        if (flag == "--help" || flag == "-h") {
            std::cout << kUsage;
            std::exit(0);
        }
        if (flag == "--isolated" || flag == "--in-process") {
            options.isolated = flag == "--isolated";
            continue;
        }
        if (flag == "--json" || flag == "--progress" || flag == "--scattered-channels" || flag == "--measure-copy" ||
            flag == "--realtime") {
            (flag == "--json"           ? options.json
             : flag == "--progress"     ? options.progress
             : flag == "--measure-copy" ? options.measure_copy
             : flag == "--realtime"     ? options.realtime
                                        : options.scattered) = true;
            continue;
        }
        if (i + 1 >= argc) throw UsageError(flag == "--python-home" || flag == "--script" || flag == "--input"
                                                ? flag + " needs a value"
                                                : "unknown option '" + flag + "'");
        const std::string value = argv[++i];
        if (flag == "--python-home") options.python_home = fs::u8path(value);
        else if (flag == "--script") options.scripts.push_back(value);
        else if (flag == "--instances") options.instances_per_script = positive(flag, value);
        else if (flag == "--input") options.input = value;
        else if (flag == "--output") options.output = fs::u8path(value);
        else if (flag == "--block") options.block_size = positive(flag, value);
        else if (flag == "--reload-at") options.reload_at = positive(flag, value);
        else if (flag == "--timeout") options.timeout_seconds = positive(flag, value);
        else if (flag == "--engine-dir") options.engine_dirs.push_back(fs::u8path(value));
        else if (flag == "--latency-log") options.latency_log = fs::u8path(value);
        else if (flag == "--deadline-ms") options.deadline_ms = seconds_or_ms(flag, value);
        else if (flag == "--stuck-after") options.stuck_after_s = seconds_or_ms(flag, value);
        else if (flag == "--param") options.params.push_back(name_and_value(flag, value));
        else if (flag == "--param-at") {
            const auto colon = value.find(':');
            if (colon == std::string::npos) throw UsageError("--param-at needs BLOCK:NAME=VALUE, got '" + value + "'");
            const auto [name, text] = name_and_value(flag, value.substr(colon + 1));
            options.param_changes.push_back({positive(flag, value.substr(0, colon)), name, text});
        }
        else throw UsageError("unknown option '" + flag + "'");
    }
    if (options.isolated && options.block_size > isolation::kMaxBlockSamples)
        throw UsageError("--isolated takes blocks of at most " + std::to_string(isolation::kMaxBlockSamples) + " samples");
    if (options.python_home.empty()) throw UsageError("--python-home is required");
    if (options.scripts.empty()) throw UsageError("--script is required");
    return options;
}

using common::engine_text;

const char* state_name(pyproc_state state) {
    switch (state) {
        case PYPROC_READY: return "ready";
        case PYPROC_ERRORED: return "errored";
        case PYPROC_LOADING: return "loading";
        case PYPROC_CRASHED: return "crashed";
        case PYPROC_STUCK: return "stuck";
        default: return "no_module";
    }
}

// An isolated module loads in its worker while create() and reload() return: the host waits for it
// (the stuck limit ends the wait), so that both modes start each buffer with the module in place.
void wait_while_loading(const pyproc_engine_api& api, pyproc_instance* instance) {
    while (api.state(instance) == PYPROC_LOADING) std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

// pyproc_alloc_window(on) of a preloaded allocation counter (tests/alloc_counter), else null.
using AllocationWindow = void (*)(int);
AllocationWindow find_allocation_window() {
#if defined(_WIN32)
    return nullptr;
#else
    return reinterpret_cast<AllocationWindow>(dlsym(RTLD_DEFAULT, "pyproc_alloc_window"));
#endif
}

// One Python Processor in the host's chain.
struct Node {
    pyproc_instance* instance = nullptr;
    std::string script;
    int32_t node_id = 0;
    int event_channel = -1;
    std::map<std::tuple<std::string, int32_t, int32_t>, int> spike_channels;
    uint64_t events_out = 0;
    uint64_t spikes_out = 0;
    std::unique_ptr<PublishedWriter> published;  // what it publishes: counted, and written with --output
    // Its derived channels (as the engine declared them at load), after the stream's channels and those
    // of the nodes before it: the next nodes see them as input channels, as in the GUI.
    struct Derived {
        std::string name, unit, description;
        double bit_volts;
    };
    std::vector<Derived> derived;
    size_t first_derived = 0;  // its first in the chain's derived channels
};

class Chain {
public:
    Chain(const pyproc_engine_api& api, const Options& options, const StreamInfo& stream, RecordingWriter* writer)
        : api_(api), stream_(stream), writer_(writer), scattered_(options.scattered), measure_copy_(options.measure_copy),
          names_(stream.channel_names) {
        if (!options.latency_log.empty()) {
            latency_log_.open(options.latency_log);
            if (!latency_log_) throw std::runtime_error("cannot write the latency log '" + options.latency_log.u8string() + "'");
            latency_log_ << "node_id microseconds\n";
        }
        for (const auto& script : options.scripts) {
            for (int copy = 0; copy < options.instances_per_script; ++copy) {
                Node node;
                node.script = fs::absolute(fs::u8path(script)).u8string();
                node.node_id = kFirstInstanceNode + static_cast<int32_t>(nodes_.size());
                std::vector<const char*> names;
                for (const auto& name : names_) names.push_back(name.c_str());
                const pyproc_stream input{static_cast<int32_t>(names.size()), stream.sample_rate, names.data(),
                                          stream.bit_volts.empty() ? 0.0 : stream.bit_volts[0]};
                node.instance = api_.create(node.script.c_str(), &input, initial_values(options).c_str());
                api_.set_limits(node.instance, options.deadline_ms > 0 ? options.deadline_ms * 1e3 : options.stuck_after_s * 1e6,
                                options.stuck_after_s);
                api_.set_host_fields(node.instance, ("{\"program\": \"pyproc-host\", \"node_id\": " +
                                              std::to_string(node.node_id) + "}").c_str());
                wait_while_loading(api_, node.instance);
                add_derived(node);
                node.published = published_writer(node, options.output);
                const JsonValue reply = parameters(node);
                for (const auto& refused : reply.array_at("refused")) throw UsageError("--param: " + refused.as_string());
                if (writer_) node.event_channel = writer_->add_event_channel(node.node_id, "Python Processor");
                nodes_.push_back(std::move(node));
            }
        }
        for (const auto& param : options.params)
            if (std::none_of(nodes_.begin(), nodes_.end(), [&](const Node& node) { return declares(node, param.first); }))
                throw UsageError("--param: no module declares a parameter '" + param.first + "'");
        if (writer_) input_events_ = writer_->add_event_channel(stream.source_node_id, stream.source_node_name);
    }

    ~Chain() {
        for (auto& node : nodes_) api_.destroy(node.instance);
    }

    using InstanceCall = void (*pyproc_engine_api::*)(pyproc_instance*);

    void call_each(InstanceCall call) {
        for (auto& node : nodes_) {
            (api_.*call)(node.instance);
            collect(node);
        }
    }

    void start_recording(const std::string& directory) {
        for (auto& node : nodes_) {
            api_.start_recording(node.instance, directory.c_str());
            collect(node);
        }
    }

    void reload() {
        for (auto& node : nodes_) {
            api_.reload(node.instance);
            wait_while_loading(api_, node.instance);
        }
    }

    // A change between two buffers, for every module that declares NAME; refused: a usage error.
    void set_parameter(const std::string& name, const std::string& value) {
        bool declared = false;
        for (auto& node : nodes_) {
            if (!declares(node, name)) continue;
            declared = true;
            char refusal[512] = {0};
            if (api_.set_parameter(node.instance, name.c_str(), value.c_str(), refusal, sizeof refusal) != 0)
                throw UsageError(std::string("--param-at: ") + refusal);
        }
        if (!declared) throw UsageError("--param-at: no module declares a parameter '" + name + "'");
    }

    JsonValue parameters(const Node& node) const {
        std::string text(api_.parameters(node.instance, nullptr, 0) + 1, '\0');
        api_.parameters(node.instance, text.data(), text.size());
        text.resize(text.size() - 1);
        return parse_json(text, "the engine's parameters");
    }

    // Each node sees the block as its predecessors left it, with their events and spikes, through the
    // engine's run_block: the per-buffer sequence the GUI plugin runs.
    void process(Block& block) {
        if (writer_) writer_->write_events(input_events_, block.events);
        if (measure_copy_) time_copy_in_out(block);
        std::vector<float*> channels = channel_pointers(block);
        const std::vector<float*> derived = derived_pointers(block);
        for (auto& node : nodes_) {
            pyproc_block inputs = block_inputs(block, channels);
            inputs.derived = derived.data() + node.first_derived;
            inputs.num_derived = static_cast<int32_t>(node.derived.size());
            pyproc_outputs out{};
            const auto started = std::chrono::steady_clock::now();
            if (allocation_window_) allocation_window_(1);
            api_.run_block(node.instance, &inputs, &out);
            if (allocation_window_) allocation_window_(0);
            if (latency_log_.is_open())
                latency_log_ << node.node_id << ' '
                             << std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - started).count()
                             << '\n';
            collect(node, out, &block);
            // The next nodes see this one's derived channels as channels of the stream.
            channels.insert(channels.end(), derived.begin() + static_cast<ptrdiff_t>(node.first_derived),
                            derived.begin() + static_cast<ptrdiff_t>(node.first_derived + node.derived.size()));
        }
        channels.resize(static_cast<size_t>(stream_.num_channels()));
        if (scattered_) gather(block, channels);
        if (writer_) writer_->write_block(block, std::vector<const float*>(derived.begin(), derived.end()));
        for (auto& node : nodes_) node.published->drain();
    }

    // The frames left in the rings (from stop_acquisition, a module's thread), and the files closed.
    void finish_published() {
        for (auto& node : nodes_) node.published->finish();
    }

    const std::vector<Node>& nodes() const { return nodes_; }
    const pyproc_engine_api& api() const { return api_; }
    // The buffer the blocks are read into: a module may keep a view of it (the GUI's buffer lives as
    // long), so it lives until the instances are destroyed, after their last callbacks.
    Block& block() { return block_; }
    const engine::LatencyStats& copy_cost() const { return copy_cost_; }

private:
    // Reads NODE's live ring (the path live_status gives); with --output, into
    // <output>/published/<node id>_<script stem>/.
    std::unique_ptr<PublishedWriter> published_writer(const Node& node, const fs::path& output) const {
        const JsonValue status = parse_json(engine_text(api_.live_status, node.instance), "the engine's live status");
        const JsonValue* path = status.find("path");
        fs::path folder;
        if (!output.empty())
            folder = fs::absolute(output) / "published" /
                     (std::to_string(node.node_id) + "_" + safe_file_stem(fs::u8path(node.script).stem().u8string(), {}));
        return std::make_unique<PublishedWriter>(path && path->is_string() ? path->as_string() : "", folder);
    }

    // The derived channels NODE's module declared at load: added to the stream (and the recording).
    void add_derived(Node& node) {
        const JsonValue reply = parse_json(engine_text(api_.derived_channels, node.instance), "the engine's derived channels");
        node.first_derived = derived_count_;
        for (const auto& channel : reply.array_at("channels")) {
            node.derived.push_back({channel.string_at("name"), channel.string_at("unit"),
                                    channel.string_at("description"), channel.number_at("bit_volts")});
            names_.push_back(node.derived.back().name);
            if (writer_)
                writer_->add_derived_channel(node.derived.back().name, node.derived.back().description,
                                             node.derived.back().unit, node.derived.back().bit_volts, "Python Processor");
        }
        derived_count_ += node.derived.size();
    }

    // Every node's derived channels for this block, in the chain's order (memory the chain keeps).
    std::vector<float*> derived_pointers(const Block& block) {
        const auto stride = static_cast<size_t>(std::max(block.stride, block.num_samples));
        if (derived_data_.size() < derived_count_ * stride) derived_data_.resize(derived_count_ * stride);
        std::vector<float*> derived(derived_count_);
        for (size_t k = 0; k < derived_count_; ++k) derived[k] = derived_data_.data() + k * stride;
        return derived;
    }

    static std::string initial_values(const Options& options) {
        JsonValue values = JsonValue::Object{};
        for (const auto& [name, value] : options.params) values.set(name, value);
        return values.dump();
    }

    bool declares(const Node& node, const std::string& name) const {
        const JsonValue reply = parameters(node);
        for (const auto& parameter : reply.array_at("parameters"))
            if (parameter.string_at("name") == name) return true;
        return false;
    }

    // The block's own channels, or copies at uneven distances (alternately 0
    // and 8 floats of padding), which the engine cannot view without a copy.
    std::vector<float*> channel_pointers(Block& block) {
        const auto count = static_cast<size_t>(stream_.num_channels());
        std::vector<float*> channels(count);
        const size_t stride = static_cast<size_t>(block.stride) + 8;
        if (scattered_) scattered_data_.resize(count * stride + 8);
        for (size_t c = 0; c < count; ++c) {
            float* own = block.channel(static_cast<int32_t>(c));
            if (!scattered_) {
                channels[c] = own;
                continue;
            }
            channels[c] = scattered_data_.data() + c * stride + (c % 2) * 8;
            std::copy(own, own + block.num_samples, channels[c]);
        }
        return channels;
    }

    void gather(Block& block, const std::vector<float*>& channels) {
        for (size_t c = 0; c < channels.size(); ++c)
            std::copy(channels[c], channels[c] + block.num_samples, block.channel(static_cast<int32_t>(c)));
    }

    // What handing Python a copy would cost: every channel out and back in.
    void time_copy_in_out(Block& block) {
        const auto count = static_cast<size_t>(stream_.num_channels());
        const auto samples = static_cast<size_t>(block.num_samples);
        copy_scratch_.resize(count * samples);
        const auto started = std::chrono::steady_clock::now();
        for (size_t c = 0; c < count; ++c)
            std::memcpy(copy_scratch_.data() + c * samples, block.channel(static_cast<int32_t>(c)), samples * sizeof(float));
        for (size_t c = 0; c < count; ++c)
            std::memcpy(block.channel(static_cast<int32_t>(c)), copy_scratch_.data() + c * samples, samples * sizeof(float));
        const auto elapsed = std::chrono::steady_clock::now() - started;
        copy_cost_.add(std::chrono::duration<double, std::micro>(elapsed).count(), 0);
    }

    // The block as the engine takes it; the views point into BLOCK and this chain's scratch vectors.
    pyproc_block block_inputs(const Block& block, const std::vector<float*>& channels) {
        ttl_inputs_.clear();
        for (const auto& event : block.events)
            ttl_inputs_.push_back({event.sample_number, event.channel_name.c_str(), event.source_node, event.line,
                                   static_cast<uint8_t>(event.state ? 1 : 0)});
        spike_inputs_.clear();
        for (const auto& spike : block.spikes)
            spike_inputs_.push_back({spike.sample_number, spike.electrode.c_str(), spike.source_node, spike.sorted_id,
                                     spike.num_channels, spike.num_samples, spike.waveform.data()});
        return {block.first_sample_number, block.num_samples,  channels.data(), static_cast<int32_t>(channels.size()),
                ttl_inputs_.data(),        ttl_inputs_.size(), spike_inputs_.data(), spike_inputs_.size(),
                0,                         nullptr,            0};
    }

    // What Python sent outside a block (start_acquisition, stop_recording...).
    void collect(Node& node) {
        pyproc_outputs out{};
        api_.outputs(node.instance, &out);
        collect(node, out, nullptr);
    }

    // Takes what Python sent: into the recording, and (during a block) downstream.
    void collect(Node& node, const pyproc_outputs& out, Block* block) {
        std::vector<TtlEvent> events;
        for (size_t i = 0; i < out.num_events; ++i)
            events.push_back({out.events[i].sample_number, out.events[i].line, out.events[i].state != 0, node.node_id,
                              "Python Processor Output"});
        std::vector<Spike> spikes;
        for (size_t i = 0; i < out.num_spikes; ++i) {
            const pyproc_spike& s = out.spikes[i];
            const size_t size = static_cast<size_t>(s.num_channels) * static_cast<size_t>(s.num_samples);
            spikes.push_back({s.sample_number, s.electrode_name, node.node_id, s.sorted_id, s.num_channels,
                              s.num_samples, std::vector<float>(s.waveform, s.waveform + size)});
        }
        api_.clear_outputs(node.instance);
        node.events_out += events.size();
        node.spikes_out += spikes.size();
        if (writer_) record(node, events, spikes);
        if (block) {
            block->events.insert(block->events.end(), events.begin(), events.end());
            block->spikes.insert(block->spikes.end(), spikes.begin(), spikes.end());
        }
    }

    void record(Node& node, const std::vector<TtlEvent>& events, const std::vector<Spike>& spikes) {
        writer_->write_events(node.event_channel, events);
        for (const auto& spike : spikes) {
            const auto key = std::make_tuple(spike.electrode, spike.num_channels, spike.num_samples);
            auto found = node.spike_channels.find(key);
            if (found == node.spike_channels.end())
                found = node.spike_channels
                            .emplace(key, writer_->add_spike_channel(node.node_id, "Python Processor", spike.electrode,
                                                                     spike.num_channels, spike.num_samples))
                            .first;
            writer_->write_spikes(found->second, {spike});
        }
    }

    Block block_;  // freed after ~Chain has destroyed the instances
    const pyproc_engine_api& api_;
    const StreamInfo& stream_;
    RecordingWriter* writer_;
    int input_events_ = -1;
    std::vector<Node> nodes_;
    const bool scattered_;
    const bool measure_copy_;
    std::vector<std::string> names_;  // the stream's channels and the derived ones added so far
    size_t derived_count_ = 0;
    std::vector<float> derived_data_;
    std::vector<float> scattered_data_;
    std::vector<float> copy_scratch_;
    std::vector<pyproc_ttl_input> ttl_inputs_;
    std::vector<pyproc_spike> spike_inputs_;
    engine::LatencyStats copy_cost_;
    // Set when a test preloads an allocation counter (tests/alloc_counter): run_block is its window.
    AllocationWindow allocation_window_ = find_allocation_window();
    std::ofstream latency_log_;
};

struct RunTotals {
    long blocks = 0;
    int64_t samples = 0;
};

void report_progress(int64_t done, int64_t total) {
    std::fprintf(stderr, "@progress %lld %lld\n", static_cast<long long>(done), static_cast<long long>(total));
    std::fflush(stderr);
}

void process_blocks(Chain& chain, Source& source, const Options& options, RunTotals& totals) {
    Block& block = chain.block();
    const auto started = std::chrono::steady_clock::now();
    int64_t first_sample = 0;
    while (source.next_block(block)) {
        if (options.realtime) {  // a block is due once its last sample would have been acquired
            if (totals.blocks == 0) first_sample = block.first_sample_number;
            const double due = static_cast<double>(block.first_sample_number + block.num_samples - first_sample) /
                               source.info().sample_rate;
            std::this_thread::sleep_until(
                started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(due)));
        }
        if (totals.blocks + 1 == options.reload_at) chain.reload();
        for (const auto& change : options.param_changes)
            if (totals.blocks + 1 == change.block) chain.set_parameter(change.name, change.value);
        chain.process(block);
        ++totals.blocks;
        totals.samples += block.num_samples;
        if (options.progress && totals.blocks % 16 == 0) report_progress(totals.samples, source.info().num_samples);
    }
    if (options.progress) report_progress(totals.samples, source.info().num_samples);
}


RunTotals run(Chain& chain, Source& source, const Options& options, const std::string& recording_dir) {
    RunTotals totals;
    chain.call_each(&pyproc_engine_api::start_acquisition);
    chain.start_recording(recording_dir);
    // Buffers are processed on a thread of their own, as the GUI's audio thread
    // does, while everything else runs on this one.
    std::exception_ptr failure;
    std::thread audio([&] {
        try {
            process_blocks(chain, source, options, totals);
        } catch (...) {
            failure = std::current_exception();
        }
    });
    audio.join();
    if (failure) std::rethrow_exception(failure);
    chain.call_each(&pyproc_engine_api::stop_recording);
    chain.call_each(&pyproc_engine_api::stop_acquisition);
    return totals;
}

std::string number(double value) {
    std::ostringstream out;
    out.precision(6);
    out << value;
    return out.str();
}

std::string latency_json(const pyproc_latency& latency) {
    if (latency.calls == 0) return "null";
    return "{\"p50\": " + number(latency.p50_us) + ", \"p99\": " + number(latency.p99_us) + ", \"max\": " +
           number(latency.max_us) + "}";
}

// name -> final value of each declared parameter, as a JSON object.
std::string parameter_values(const Chain& chain, const Node& node) {
    JsonValue values = JsonValue::Object{};
    const JsonValue reply = chain.parameters(node);
    for (const auto& parameter : reply.array_at("parameters"))
        values.set(parameter.string_at("name"), parameter.at("value"));
    return values.dump();
}

// The node's derived channels: [{"name", "unit", "bit_volts"}].
std::string derived_json(const Node& node) {
    JsonValue channels{JsonValue::Array{}};
    for (const auto& derived : node.derived) {
        JsonValue channel;
        channel.set("name", derived.name);
        channel.set("unit", derived.unit);
        channel.set("bit_volts", derived.bit_volts);
        channels.push_back(std::move(channel));
    }
    return channels.dump();
}

// The instance's published names with the frames written (counted, without --output), those of
// another shape than the name's first (not written), frames lost, and the folder of the files.
std::string published_json(const PublishedWriter& published) {
    JsonValue written = JsonValue::Object{};
    JsonValue other_shape = JsonValue::Object{};
    for (const auto& series : published.series()) {
        written.set(series->name, series->written);
        if (series->other_shape) other_shape.set(series->name, series->other_shape);
    }
    const fs::path folder = published.written_folder();
    return ", \"published\": " + written.dump() + ", \"published_other_shape\": " + other_shape.dump() +
           ", \"published_lost\": " + std::to_string(published.lost()) +
           ", \"published_dir\": " + (folder.empty() ? std::string("null") : json_escape(folder.u8string()));
}

std::string summary_json(const loader::LoadedEngine& engine, const Chain& chain, const StreamInfo& stream,
                         const RunTotals& totals, const std::string& output, bool isolated) {
    const pyproc_engine_api& api = chain.api();
    std::ostringstream out;
    out << "{\"python_home\": " << json_escape(engine.home.root.u8string())
        << ", \"python_home_kind\": " << json_escape(engine.home.kind_name())
        << ", \"python_version\": " << json_escape(engine.python_version)
        << ", \"engine\": " << json_escape(engine.engine_path.u8string())
        << ", \"mode\": \"" << (isolated ? "isolated" : "in-process") << "\", \"input\": {\"stream\": "
        << json_escape(stream.name) << ", \"channels\": " << stream.num_channels()
        << ", \"sample_rate\": " << number(stream.sample_rate) << ", \"samples\": " << totals.samples
        << ", \"blocks\": " << totals.blocks << "}, \"output\": " << (output.empty() ? "null" : json_escape(output))
        << ", \"copy_in_out_us\": " << latency_json(chain.copy_cost().summary())
        << ", \"instances\": [";
    bool first = true;
    for (const auto& node : chain.nodes()) {
        pyproc_latency latency{};
        api.latency(node.instance, &latency);
        const pyproc_state state = api.state(node.instance);
        const std::string error = engine_text(api.error_text, node.instance);
        out << (first ? "" : ", ") << "{\"script\": " << json_escape(node.script) << ", \"node_id\": " << node.node_id
            << ", \"state\": \"" << state_name(state) << "\", \"error\": " << (error.empty() ? "null" : json_escape(error))
            << ", \"warnings\": " << json_escape(engine_text(api.warning_text, node.instance))
            << ", \"calls\": " << latency.calls << ", \"overruns\": " << latency.overruns << ", \"late\": " << latency.late
            << ", \"latency_us\": " << latency_json(latency) << ", \"events_out\": " << node.events_out
            << ", \"spikes_out\": " << node.spikes_out << ", \"derived\": " << derived_json(node)
            << ", \"parameters\": " << parameter_values(chain, node)
            << published_json(*node.published) << "}";
        first = false;
    }
    out << "]}";
    return out.str();
}

void print_summary(const loader::LoadedEngine& engine, const Chain& chain, const StreamInfo& stream,
                   const RunTotals& totals, const std::string& output, bool isolated) {
    const pyproc_engine_api& api = chain.api();
    std::cout << "Python " << engine.python_version << " (" << engine.home.kind_name() << " "
              << engine.home.root.u8string() << "), " << (isolated ? "isolated" : "in-process") << "\n"
              << "input: " << stream.name << ", " << stream.num_channels() << " channels at " << stream.sample_rate
              << " Hz, " << totals.samples << " samples in " << totals.blocks << " blocks\n";
    for (const auto& node : chain.nodes()) {
        pyproc_latency latency{};
        api.latency(node.instance, &latency);
        const pyproc_state state = api.state(node.instance);
        std::cout << "node " << node.node_id << " " << node.script << ": "
                  << (state == PYPROC_READY ? std::string("ready") : [&] {
                         std::string upper = state_name(state);
                         for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
                         return upper;
                     }()) << ", "
                  << latency.calls << " calls, latency p50 " << number(latency.p50_us) << " us, p99 "
                  << number(latency.p99_us) << " us, max " << number(latency.max_us) << " us, " << latency.overruns
                  << " over budget, " << (isolated ? std::to_string(latency.late) + " late, " : std::string()) << node.events_out << " events and " << node.spikes_out << " spikes out\n";
        if (!node.derived.empty()) {
            std::cout << "  derived channels:";
            const char* separator = " ";
            for (const auto& derived : node.derived) {
                std::cout << separator << derived.name << (derived.unit.empty() ? "" : " (" + derived.unit + ")");
                separator = ", ";
            }
            std::cout << "\n";
        }
        if (!node.published->series().empty()) {
            std::cout << "  published:";
            const char* separator = " ";
            for (const auto& series : node.published->series()) {
                std::cout << separator << series->name << " (" << series->written;
                separator = ", ";
                if (series->other_shape) std::cout << ", " << series->other_shape << " of another shape not written";
                std::cout << ")";
            }
            if (node.published->lost()) std::cout << "; " << node.published->lost() << " frames lost";
            if (!node.published->written_folder().empty())
                std::cout << " in " << node.published->written_folder().u8string();
            std::cout << "\n";
        }
        const std::string warnings = engine_text(api.warning_text, node.instance);
        if (!warnings.empty()) std::cout << "  warning: " << warnings << "\n";
        if (state != PYPROC_READY && state != PYPROC_NO_MODULE) std::cout << engine_text(api.error_text, node.instance) << "\n";
    }
    if (!output.empty()) std::cout << "recording written to " << output << "\n";
}

// With --json, Python's print() must not corrupt the summary: fd 1 goes to
// stderr, and the summary to a duplicate of the original stdout.
FILE* reserve_stdout_for_json() {
    std::fflush(stdout);
    const int saved = dup(fileno(stdout));
    dup2(fileno(stderr), fileno(stdout));
    return fdopen(saved, "w");
}

// The line that says what happened: a traceback's last, a crash's or a stuck module's first.
std::string headline(pyproc_state state, const std::string& error) {
    if (state != PYPROC_ERRORED) return error.substr(0, error.find('\n'));
    const auto end = error.find_last_not_of("\n");
    const auto start = error.rfind('\n', end);
    return error.substr(start == std::string::npos ? 0 : start + 1);
}

// A module stuck in a loop cannot be interrupted from outside Python, so the
// host gives up on the whole process instead of hanging.
void start_watchdog(int seconds) {
    std::thread([seconds] {
        std::this_thread::sleep_for(std::chrono::seconds(seconds));
        std::fprintf(stderr, "pyproc-host: the run did not finish within %d s (is a module stuck in a loop?)\n", seconds);
        std::fflush(stderr);
        std::_Exit(kExitTimeout);
    }).detach();
}

int run_host(const Options& options) {
    if (options.timeout_seconds > 0) start_watchdog(options.timeout_seconds);
    std::unique_ptr<Source> source = open_source(options.input, options.block_size);
    std::unique_ptr<RecordingWriter> writer;
    if (!options.output.empty()) writer = std::make_unique<RecordingWriter>(options.output, source->info());
    const loader::LoadedEngine& engine = loader::load_engine(options.python_home, options.engine_dirs);
    FILE* json_out = options.json ? reserve_stdout_for_json() : nullptr;

    const std::string recording_dir = writer ? writer->recording_dir().u8string() : "";
    const pyproc_engine_api& api = options.isolated ? *isolation::isolated_api(engine) : *engine.api;
    Chain chain(api, options, source->info(), writer.get());
    const RunTotals totals = run(chain, *source, options, recording_dir);
    chain.finish_published();
    if (writer) writer->finish();

    if (json_out) {
        std::fprintf(json_out, "%s\n", summary_json(engine, chain, source->info(), totals, recording_dir, options.isolated).c_str());
        std::fclose(json_out);
    } else {
        print_summary(engine, chain, source->info(), totals, recording_dir, options.isolated);
    }
    for (const auto& node : chain.nodes()) {
        const pyproc_state state = api.state(node.instance);
        if (state != PYPROC_READY && state != PYPROC_NO_MODULE) {
            std::cerr << "pyproc-host: node " << node.node_id << " " << state_name(state) << ": "
                      << headline(state, engine_text(api.error_text, node.instance)) << "\n";
            return kExitModuleErrored;
        }
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run_host(parse(argc, argv));
    } catch (const UsageError& error) {
        std::cerr << "pyproc-host: " << error.what() << "\n" << kUsage;
        return kExitUsage;
    } catch (const loader::HomeError& error) {
        std::cerr << "pyproc-host: " << error.what() << "\n";
        return kExitPythonHome;
    } catch (const std::exception& error) {
        std::cerr << "pyproc-host: " << error.what() << "\n";
        return kExitUsage;
    }
}
