#include "chain.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#if !defined(_WIN32)
#include <dlfcn.h>
#endif

#include "engine_text.h"

namespace pyproc::host {

using common::JsonValue;
using common::parse_json;

namespace fs = std::filesystem;
using common::engine_text;

namespace {

constexpr int32_t kFirstInstanceNode = 101;

// An isolated module loads in its worker while create() and reload() return: the host waits for it
// (the stuck limit ends the wait), so that both modes start each buffer with the module in place.
void wait_while_loading(const pyproc_engine_api& api, pyproc_instance* instance) {
    while (api.state(instance) == PYPROC_LOADING) std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

// The allocation counter's window when a test preloaded one, else null.
AllocationWindow find_allocation_window() {
#if defined(_WIN32)
    return nullptr;
#else
    return reinterpret_cast<AllocationWindow>(dlsym(RTLD_DEFAULT, "pyproc_alloc_window"));
#endif
}

}  // namespace

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

Chain::Chain(const pyproc_engine_api& api, const Options& options, const StreamInfo& stream, RecordingWriter* writer)
    : api_(api), stream_(stream), writer_(writer), scattered_(options.scattered), measure_copy_(options.measure_copy),
      names_(stream.channel_names), allocation_window_(find_allocation_window()) {
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

Chain::~Chain() {
    for (auto& node : nodes_) api_.destroy(node.instance);
}

void Chain::call_each(InstanceCall call) {
    for (auto& node : nodes_) {
        (api_.*call)(node.instance);
        collect(node);
    }
}

void Chain::start_recording(const std::string& directory) {
    for (auto& node : nodes_) {
        api_.start_recording(node.instance, directory.c_str());
        collect(node);
    }
}

void Chain::reload() {
    for (auto& node : nodes_) {
        api_.reload(node.instance);
        wait_while_loading(api_, node.instance);
    }
}

void Chain::set_parameter(const std::string& name, const std::string& value) {
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

JsonValue Chain::parameters(const Node& node) const {
    std::string text(api_.parameters(node.instance, nullptr, 0) + 1, '\0');
    api_.parameters(node.instance, text.data(), text.size());
    text.resize(text.size() - 1);
    return parse_json(text, "the engine's parameters");
}

void Chain::process(Block& block) {
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

void Chain::finish_published() {
    for (auto& node : nodes_) node.published->finish();
}

std::unique_ptr<PublishedWriter> Chain::published_writer(const Node& node, const fs::path& output) const {
    const JsonValue status = parse_json(engine_text(api_.live_status, node.instance), "the engine's live status");
    const JsonValue* path = status.find("path");
    fs::path folder;
    if (!output.empty())
        folder = fs::absolute(output) / "published" /
                 (std::to_string(node.node_id) + "_" + safe_file_stem(fs::u8path(node.script).stem().u8string(), {}));
    return std::make_unique<PublishedWriter>(path && path->is_string() ? path->as_string() : "", folder);
}

void Chain::add_derived(Node& node) {
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

std::vector<float*> Chain::derived_pointers(const Block& block) {
    const auto stride = static_cast<size_t>(std::max(block.stride, block.num_samples));
    if (derived_data_.size() < derived_count_ * stride) derived_data_.resize(derived_count_ * stride);
    std::vector<float*> derived(derived_count_);
    for (size_t k = 0; k < derived_count_; ++k) derived[k] = derived_data_.data() + k * stride;
    return derived;
}

std::string Chain::initial_values(const Options& options) {
    JsonValue values = JsonValue::Object{};
    for (const auto& [name, value] : options.params) values.set(name, value);
    return values.dump();
}

bool Chain::declares(const Node& node, const std::string& name) const {
    const JsonValue reply = parameters(node);
    for (const auto& parameter : reply.array_at("parameters"))
        if (parameter.string_at("name") == name) return true;
    return false;
}

std::vector<float*> Chain::channel_pointers(Block& block) {
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

void Chain::gather(Block& block, const std::vector<float*>& channels) {
    for (size_t c = 0; c < channels.size(); ++c)
        std::copy(channels[c], channels[c] + block.num_samples, block.channel(static_cast<int32_t>(c)));
}

void Chain::time_copy_in_out(Block& block) {
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

pyproc_block Chain::block_inputs(const Block& block, const std::vector<float*>& channels) {
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

void Chain::collect(Node& node) {
    pyproc_outputs out{};
    api_.outputs(node.instance, &out);
    collect(node, out, nullptr);
}

void Chain::collect(Node& node, const pyproc_outputs& out, Block* block) {
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

void Chain::record(Node& node, const std::vector<TtlEvent>& events, const std::vector<Spike>& spikes) {
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

}  // namespace pyproc::host
