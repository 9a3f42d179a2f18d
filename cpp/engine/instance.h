// One Python Processor: its own module object, PyProcessor, outputs and statistics.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pyproc/engine_api.h"
#include "latency.h"
#include "live_ring.h"

namespace pyproc::engine {

namespace py = pybind11;

class Instance;

// pyproc-worker's process (become_worker): the buffers' memory is lent to process() as a C-contiguous
// view, and memory the module still holds is never filled again (the worker asks memory_in_use before
// choosing it; the engine copies when it must): the published plugin's fresh arrays, without a copy.
void lend_buffers();

// What parameters() answers for an instance without a loaded module.
inline constexpr const char* kNoParametersJson = R"({"parameters": [], "problems": [], "refused": []})";

// The `processor` object handed to PyProcessor.__init__, one per load of the module. It owns nothing:
// each call takes a reference to its instance for the call's duration (a module thread inside a call
// keeps the instance's memory alive even if the chain destroys it meanwhile), and a call after the
// instance was destroyed or reloaded raises RuntimeError in words instead.
struct ProcessorHandle {
    std::weak_ptr<Instance> instance;
    uint64_t load = 0;  // the load of the module it was handed to
};

class Instance : public std::enable_shared_from_this<Instance> {
public:
    // All methods expect the GIL held by the caller. Made with std::make_shared, then start().
    Instance(std::string script_path, const pyproc_stream& stream, const std::string& parameter_values);
    ~Instance();
    void start();  // loads the module: its handle needs the shared owner
    // Releases the module for good (the chain destroys the instance); calls of module threads already
    // inside finish on memory that stays valid until they return.
    void retire();
    // The instance a handle's call may use: it, while the handle's load is the current one; else raises.
    static std::shared_ptr<Instance> of_handle(const ProcessorHandle& handle);
    Instance(const Instance&) = delete;
    Instance& operator=(const Instance&) = delete;

    pyproc_state reload();
    // These three may be read from another thread while the instance runs (the GUI's status timer).
    pyproc_state state() const { return state_; }
    std::string error() const {
        std::lock_guard<std::mutex> lock(text_mutex_);
        return error_;
    }
    std::string warnings() const {
        std::lock_guard<std::mutex> lock(text_mutex_);
        return warnings_;
    }

    // The per-buffer sequence (engine_api.h): events, spikes, process(), then the outputs.
    pyproc_outputs run_block(const pyproc_block& block);
    void call_optional(const char* method);
    void call_optional(const char* method, const std::string& argument);
    // Events sent while not acquiring are dropped, as in the published plugin.
    void set_acquiring(bool acquiring);

    // The module's derived channels (docs/derived.md): `processor.derived`, and their declarations as
    // derived_channels() gives them (may be read while the instance runs).
    py::object derived() const;
    std::string derived_json() const {
        std::lock_guard<std::mutex> lock(text_mutex_);
        return derived_json_;
    }

    // The module's parameters (the runtime's ParameterSet): declarations and values as JSON; a change
    // is checked now ("" or the refusal) and applied before the next process().
    std::string parameters_json();
    std::string set_parameter(const std::string& name, const std::string& value);
    py::object params() const;

    // From Python (processor.add_python_event / add_python_spike); they raise on bad input.
    void add_python_event(const py::object& line, const py::object& state, const py::object& offset);
    void add_python_spike(const py::object& sample_number, const py::object& waveform,
                          const py::object& sorted_id, const py::object& electrode);

    // processor.publish(name, value, x=None): into the live ring (docs/live.md); raises on bad input.
    void publish(const py::object& name, const py::object& value, const py::object& x);
    // The host's description of the instance (program, node_id...), merged into the ring's meta.
    void set_host_fields(const std::string& host_fields_json);
    // The ring's path, its error if it could not be made, and each published name with its count, as
    // JSON; reads only the ring's atomics, so it may run beside process().
    std::string live_status() const;

    // Moves what Python sent so far into the delivered view (valid until the next call of either);
    // Python threads of the module may keep sending.
    pyproc_outputs take_outputs();
    void clear_outputs();
    const common::LatencyStats& latency() const { return latency_; }
    int32_t num_channels() const { return num_channels_; }
    double sample_rate() const { return sample_rate_; }

private:
    // What Python sent; `pending` fills (from any Python thread), `delivered` is read by the host.
    // Both are swapped, never freed: once their capacity suits the module, nothing is allocated.
    struct Outputs {
        std::vector<pyproc_ttl_event> events;
        std::vector<pyproc_spike> spikes;  // pointers set when delivered, from the offsets below
        std::vector<float> samples;        // every spike's waveform, one after another
        std::vector<char> names;           // every spike's electrode name, NUL-terminated
        struct Offsets {
            size_t samples, name;
        };
        std::vector<Offsets> offsets;
        // Room for busy buffers (1,024 events, 256 tetrode spikes of 64 samples) before any block runs.
        void reserve() {
            events.reserve(1024);
            spikes.reserve(256);
            offsets.reserve(256);
            samples.reserve(256 * 4 * 64);
            names.reserve(256 * 32);
        }
        void clear() {
            events.clear();
            spikes.clear();
            samples.clear();
            names.clear();
            offsets.clear();
        }
    };

    void begin_block(int64_t first_sample_number, int32_t num_samples);
    // true if called
    bool process(float* const* channels, int32_t num_channels, int32_t num_samples, float* const* derived,
                 int32_t num_derived);
    // The module's METHOD (looked up once per block), or None: it has none, or it is not ready.
    py::object handler(const char* method);
    void ttl_event(const pyproc_ttl_input& event, const py::object& handler);
    void spike(const pyproc_spike& spike, const py::object& handler);

    void load();
    void write_meta(const py::dict& host_fields);
    void publish_event(int64_t sample_number, uint8_t line, bool on, uint8_t direction);
    struct FrameShape {
        uint8_t ndim = 0;
        uint32_t sizes[2] = {0, 0};
    };
    // A publish()'s name: the str and its UTF-8 (kept by the str), checked once.
    struct PublishedName {
        const py::object& object;
        const char* text;
        size_t length;
    };
    void write_frame(const PublishedName& name, uint8_t kind, uint8_t dtype, const FrameShape& shape,
                     const void* values, size_t value_bytes, const void* x, size_t x_bytes);
    uint32_t name_index(const PublishedName& name, uint8_t kind);
    bool warn_if_no_ring();  // true (and a warning, once) when the ring could not be made
    void read_fresh_data();
    void read_derived();
    // Points each declared derived channel's array at its memory for this block (views made anew only
    // when a pointer or the length changed); those the caller has no memory for get scratch.
    void bind_derived(float* const* derived, int32_t num_derived, int32_t num_samples);
    void load_parameters();
    void apply_parameter_changes();
    void apply_parameter_changes_without_callbacks();
    void release_python_objects();
    void fail(const std::string& where, const py::error_already_set& error);
    void fail(const std::string& where, const std::string& message);
    void warn_once(const std::string& warning);
    void warn_once(bool& warned, const std::string& warning);
    // WHERE: a std::string or a literal (no allocation on the per-block paths).
    template <class Where, class Call> void guarded(const Where& where, Call&& call);
    py::array wrap(float* const* channels, int32_t num_channels, int32_t num_samples, bool* copied);
    bool unchanged_view(float* data, ptrdiff_t stride, int32_t num_channels, int32_t num_samples) const;
    bool spare_fits(int32_t num_channels, int32_t num_samples) const;

public:
    bool memory_in_use(const void* address);

private:
    void take_result(const py::object& result, const py::array& data, float* const* channels, int32_t num_channels,
                     int32_t num_samples);

    const int id_;
    uint64_t loads_ = 0;
    bool retired_ = false;
    const std::string script_path_;
    const int32_t num_channels_;
    const double sample_rate_;
    std::vector<std::string> channel_names_;
    double bit_volts_ = 0;
    std::atomic<pyproc_state> state_{PYPROC_NO_MODULE};
    mutable std::mutex text_mutex_;  // guards error_ and warnings_, written rarely
    std::string error_;
    std::string warnings_;
    std::string derived_json_ = R"({"known": false, "channels": []})";

    py::object module_;
    py::object processor_;
    py::object handle_;
    py::object process_fn_;
    py::object parameter_set_;  // the runtime's ParameterSet of the loaded module, or None
    py::dict given_values_;     // values from before __init__: the host's, then those a reload keeps
    py::object derived_;        // the runtime's DerivedChannels of this load (empty until __init__ returned)
    py::object derived_arrays_;  // its dict: name -> the current block's array
    std::vector<py::object> derived_names_;
    // Per derived channel, the views of its last two (memory, length) pairs: the GUI's buffers
    // alternate between two lengths (696 and 697 samples at 30 kHz), and a view is not made anew.
    struct DerivedView {
        float* data = nullptr;
        int32_t length = -1;
        py::object array;
    };
    std::vector<std::array<DerivedView, 2>> derived_views_;
    std::vector<float> derived_scratch_;  // for declared channels the caller gave no memory for
    std::atomic<bool> changes_pending_{false};
    // `data` is a view on the chain's buffer unless one of these asks for a copy.
    py::object view_;            // the view handed out last, while only the engine holds it
    py::object spare_;           // the last copy, while only the engine holds it: filled again, not made anew
    std::vector<py::object> lent_;  // worker: views the module kept, until it lets them go
    bool lendable_ = false;         // worker: this block's memory may be lent (PYPROC_BLOCK_LEND)
    bool copy_buffers_ = false;  // the module kept `data` beyond its call
    bool first_call_ = true;     // the first call of a load is on a copy: retention is seen before it can harm
    bool fresh_data_ = false;    // PyProcessor.fresh_data: the published plugin's fresh C-contiguous array
    bool warned_return_ = false;
    bool warned_line_ = false;
    bool warned_not_acquiring_ = false;

    // The block and the outputs are touched only with the GIL held (the module's threads send with
    // it, the host takes them with it), so no lock of ours is needed.
    bool acquiring_ = false;
    int64_t block_start_ = 0;
    int32_t block_length_ = 0;
    Outputs pending_;
    Outputs delivered_;
    common::LatencyStats latency_;

    // The live ring: written with the GIL held (so by one thread at a time), read by other processes.
    std::unique_ptr<live::RingFile> ring_file_;
    std::atomic<int64_t> current_sample_{0};  // first sample of the last block begun: publish()'s stamp
    bool warned_no_ring_ = false;
};

}  // namespace pyproc::engine
