// The host's chain of Python Processors: each instance sees the block as its predecessors left it, as
// processors in series do in the GUI, through the engine's (or isolated mode's) C API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "json.h"
#include "latency.h"
#include "options.h"
#include "published_writer.h"
#include "streams.h"

namespace pyproc::host {

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

// pyproc_alloc_window(on) of a preloaded allocation counter (tests/alloc_counter).
using AllocationWindow = void (*)(int);

class Chain {
public:
    Chain(const pyproc_engine_api& api, const Options& options, const StreamInfo& stream, RecordingWriter* writer);
    ~Chain();

    using InstanceCall = void (*pyproc_engine_api::*)(pyproc_instance*);
    void call_each(InstanceCall call);
    void start_recording(const std::string& directory);
    void reload();

    // A change between two buffers, for every module that declares NAME; refused: a usage error.
    void set_parameter(const std::string& name, const std::string& value);
    // NODE's declared parameters as the engine gives them: {"parameters", "problems", "refused"}.
    common::JsonValue parameters(const Node& node) const;

    // Each node sees the block as its predecessors left it, with their events and spikes, through the
    // engine's run_block: the per-buffer sequence the GUI plugin runs.
    void process(Block& block);

    // The frames left in the rings (from stop_acquisition, a module's thread), and the files closed.
    void finish_published();

    const std::vector<Node>& nodes() const { return nodes_; }
    const pyproc_engine_api& api() const { return api_; }
    // The buffer the blocks are read into: a module may keep a view of it (the GUI's buffer lives as
    // long), so it lives until the instances are destroyed, after their last callbacks.
    Block& block() { return block_; }
    const common::LatencyStats& copy_cost() const { return copy_cost_; }

private:
    // Reads NODE's live ring (the path live_status gives); with --output, into
    // <output>/published/<node id>_<script stem>/.
    std::unique_ptr<PublishedWriter> published_writer(const Node& node, const std::filesystem::path& output) const;

    // The derived channels NODE's module declared at load: added to the stream (and the recording).
    void add_derived(Node& node);

    // Every node's derived channels for this block, in the chain's order (memory the chain keeps).
    std::vector<float*> derived_pointers(const Block& block);

    static std::string initial_values(const Options& options);
    bool declares(const Node& node, const std::string& name) const;

    // The block's own channels, or copies at uneven distances (alternately 0
    // and 8 floats of padding), which the engine cannot view without a copy.
    std::vector<float*> channel_pointers(Block& block);

    void gather(Block& block, const std::vector<float*>& channels);

    // What handing Python a copy would cost: every channel out and back in.
    void time_copy_in_out(Block& block);

    // The block as the engine takes it; the views point into BLOCK and this chain's scratch vectors.
    pyproc_block block_inputs(const Block& block, const std::vector<float*>& channels);

    // What Python sent outside a block (start_acquisition, stop_recording...).
    void collect(Node& node);

    // Takes what Python sent: into the recording, and (during a block) downstream.
    void collect(Node& node, const pyproc_outputs& out, Block* block);

    void record(Node& node, const std::vector<TtlEvent>& events, const std::vector<Spike>& spikes);

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
    common::LatencyStats copy_cost_;
    // Set when a test preloads an allocation counter (tests/alloc_counter): run_block is its window.
    AllocationWindow allocation_window_;
    std::ofstream latency_log_;
};

// "ready", "errored", "loading", "crashed", "stuck" or "no_module", as the summaries name states.
const char* state_name(pyproc_state state);

}  // namespace pyproc::host
