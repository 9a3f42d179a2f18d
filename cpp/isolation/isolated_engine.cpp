#include "isolated_engine.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include <child_process.h>
#include "latency.h"

#include "realtime.h"
#include "shared_layout.h"
#include "shared_memory.h"

#if defined(_WIN32)
#include <windows.h>
#else
#include <unistd.h>
#endif
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <immintrin.h>
#endif

namespace pyproc::isolation {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr double kDefaultStuckAfterSeconds = 10;
constexpr auto kStopWait = 2s;      // stop_acquisition: then the worker is stopped
constexpr auto kQuitWait = 1s;      // destroy, reload of a worker that cannot go on
constexpr auto kAnswerWait = 2s;    // set_parameter, outputs
constexpr auto kStacksWait = 300ms; // for faulthandler to write the stacks we asked for
// The audio thread spins this long for the answer, then sleeps. 300 us was tried: over ten minutes in
// the real GUI it made run_block's p50 worse, not its tail better (docs/isolation.md).
constexpr auto kAnswerSpin = 30us;
// A worker at the audio priority on one request this long goes back to the normal one (demote_if_stuck).
constexpr std::chrono::duration<double> kDemoteAfter = 100ms;

enum Fate : int { kAlive, kCrashed, kStuck };

const loader::LoadedEngine* loaded = nullptr;

int64_t now_ns() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }

inline void cpu_relax() {
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

size_t copy_out(const std::string& text, char* out, size_t len) {
    if (out && len > 0) {
        const size_t n = std::min(text.size(), len - 1);
        std::memcpy(out, text.data(), n);
        out[n] = '\0';
    }
    return text.size();
}

void copy_name(char* out, const char* name) {
    const size_t n = name ? strnlen(name, kNameBytes - 1) : 0;
    if (n) std::memcpy(out, name, n);
    out[n] = '\0';
}

std::string read_file(const fs::path& path) {
    std::ifstream file(path, std::ios::binary);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

// The pyproc_instance of the isolated table.
struct Isolated {
    // What a new worker is made from.
    std::string script, initial_values, host_fields;
    int32_t channels = 0;
    double rate = 0;
    std::vector<std::string> names;  // the stream's channels'
    double bit_volts = 0;
    mutable std::string known_derived;  // the last derived_channels() the worker knew (cause_mutex)
    std::vector<std::pair<std::string, std::string>> taken_values;  // set_parameter's, latest per name
    bool acquiring = false;

    // The worker: replaced only by calls that never overlap run_block, and looked at by the monitor,
    // each under `lifecycle`.
    std::mutex lifecycle;
    std::unique_ptr<SharedMemory> memory;
    SharedHeader* shared = nullptr;
    common::DetachedProcess process;
    bool running = false;
    fs::path stacks_path;
    std::string start_problem;  // why no worker could be started

    std::atomic<int> fate{kAlive};
    std::atomic<bool> loading{false};
    mutable std::mutex cause_mutex;
    std::string cause;  // of kCrashed and kStuck, with the stacks

    uint32_t block_posted = 0;  // the caller of run_block's
    uint32_t written_slot = 0;  // where the buffer in flight is
    std::mutex control_mutex;   // the other requests, from any thread but run_block's
    uint32_t control_posted = 0;
    std::atomic<int64_t> block_posted_at{0}, control_posted_at{0};

    CallQueue queue{};  // calls for the next request: the callers never overlap (engine_api.h)
    bool block_outputs_returned = true;
    std::vector<pyproc_spike> block_spikes, control_spikes;

    std::atomic<double> deadline_us{0}, stuck_after_s{kDefaultStuckAfterSeconds};
    common::LatencyStats latency;
    std::atomic<uint64_t> late{0};
    std::atomic<int32_t> priority{0};   // the worker's, as the monitor last saw it (realtime.h)
    std::atomic<bool> oversize{false}, dropped{false};

    std::thread monitor;
    std::mutex monitor_mutex;
    std::condition_variable monitor_wake;
    bool monitor_stop = false;

    void set_cause(std::string text) {
        std::lock_guard<std::mutex> lock(cause_mutex);
        cause = std::move(text);
    }
    std::string read_cause() const {
        std::lock_guard<std::mutex> lock(cause_mutex);
        return cause;
    }
};

Isolated* as_isolated(pyproc_instance* instance) { return reinterpret_cast<Isolated*>(instance); }
const Isolated* as_isolated(const pyproc_instance* instance) { return reinterpret_cast<const Isolated*>(instance); }

// ---- requests ----

void post(Isolated& x, Slot& slot, uint32_t& counter, std::atomic<int64_t>& posted_at) {
    posted_at.store(now_ns(), std::memory_order_relaxed);
    slot.posted.store(++counter, std::memory_order_release);
    x.shared->wake.fetch_add(1, std::memory_order_seq_cst);
    if (x.shared->worker_sleeping.load(std::memory_order_seq_cst)) x.memory->ring(x.shared->wake, SharedMemory::worker_bell);
}

bool answered(const Slot& slot, uint32_t counter) { return slot.done.load(std::memory_order_acquire) == counter; }
bool idle(const Slot& slot) {
    return slot.done.load(std::memory_order_acquire) == slot.posted.load(std::memory_order_relaxed);
}

void queue_call(Isolated& x, CallKind kind, const std::string& text = {}) {
    if (x.queue.count == kMaxQueuedCalls) {
        x.dropped = true;
        return;
    }
    QueuedCall& call = x.queue.calls[x.queue.count++];
    call.kind = kind;
    const size_t n = std::min(text.size(), kCallTextBytes - 1);
    std::memcpy(call.text, text.data(), n);
    call.text[n] = '\0';
    if (kind == CallKind::set_parameter && n + 1 < kCallTextBytes) call.text[n + 1] = '\0';
}

void move_queue(Isolated& x, CallQueue& into) {
    into.count = x.queue.count;
    for (uint32_t i = 0; i < x.queue.count; ++i) into.calls[i] = x.queue.calls[i];
    x.queue.count = 0;
}

void write_host_fields(Isolated& x) {
    std::atomic<uint32_t>& version = x.shared->host_fields_version;
    version.fetch_add(1, std::memory_order_acq_rel);
    copy_out(x.host_fields, x.shared->host_fields, sizeof x.shared->host_fields);
    version.fetch_add(1, std::memory_order_release);
    x.shared->wake.fetch_add(1, std::memory_order_seq_cst);
    if (x.shared->worker_sleeping.load(std::memory_order_seq_cst)) x.memory->ring(x.shared->wake, SharedMemory::worker_bell);
}

bool usable(const Isolated& x) {
    return x.shared && x.fate.load(std::memory_order_acquire) == kAlive && !x.loading.load(std::memory_order_acquire);
}

// Waits (never on the audio thread) for the control request, at most `bound`.
bool wait_control(Isolated& x, Clock::duration bound) {
    const auto until = Clock::now() + bound;
    while (!answered(x.shared->control.slot, x.control_posted)) {
        if (Clock::now() > until || x.fate.load() == kCrashed) return false;
        std::this_thread::sleep_for(50us);
    }
    return true;
}

// Posts a control request carrying the queued calls and waits for it; false if not answered in time.
template <class Fill>
bool control_request(Isolated& x, Request request, Clock::duration bound, Fill&& fill) {
    std::lock_guard<std::mutex> lock(x.control_mutex);
    if (!usable(x) || !idle(x.shared->control.slot)) return false;
    ControlArea& control = x.shared->control;
    control.request = request;
    fill(control);
    move_queue(x, control.calls);
    post(x, control.slot, x.control_posted, x.control_posted_at);
    return wait_control(x, bound);
}

// ---- status, published by the worker ----

template <size_t N>
std::string status_text(const Isolated& x, const char (StatusArea::*field)[N], int32_t* state = nullptr) {
    const StatusArea& status = x.shared->status;
    std::string text;
    for (int attempt = 0; attempt < 1000; ++attempt) {
        const uint32_t before = status.sequence.load(std::memory_order_acquire);
        if (before % 2) {
            std::this_thread::yield();
            continue;
        }
        text.assign(status.*field, strnlen(status.*field, N));
        if (state) *state = status.state;
        std::atomic_thread_fence(std::memory_order_acquire);
        if (status.sequence.load(std::memory_order_relaxed) == before) break;
    }
    return text;
}

// ---- the worker's life ----

void read_stacks_into_cause(Isolated& x, const std::string& headline) {
    std::string stacks = read_file(x.stacks_path);
    while (!stacks.empty() && (stacks.back() == '\n' || stacks.back() == '\0')) stacks.pop_back();
    x.set_cause(headline + (stacks.empty() ? "\n(no Python stack was written)" : "\nPython stacks at that moment:\n" + stacks));
}

void start_worker(Isolated& x) {
    x.fate = kAlive;
    x.set_cause("");
    x.start_problem.clear();
    x.block_posted = x.control_posted = 0;
    x.block_outputs_returned = true;
    const fs::path program = worker_program(loaded->engine_path);
    std::error_code missing;
    if (!fs::is_regular_file(program, missing)) {
        x.start_problem = "isolated mode needs pyproc-worker beside the engine (" + program.u8string() +
                          "); reinstall oe-python-processor, or run the module in-process";
        return;
    }
    try {
        const int32_t max_samples = kMaxBlockSamples;
        const int32_t max_channels = std::max<int32_t>(1, x.channels);
        const size_t bytes = shared_bytes(max_channels, max_samples);
        x.memory = SharedMemory::create(bytes);
        // The header, the first slot and the spare have their memory now; the worker reserves the
        // other slots before it first names them.
        const size_t slot_bytes = sizeof(float) * slot_floats(max_channels, max_samples);
        std::string short_of = x.memory->reserve(0, slot_offset(max_channels, max_samples, 0) + slot_bytes);
        if (short_of.empty()) short_of = x.memory->reserve(slot_offset(max_channels, max_samples, kSpareSlot), slot_bytes);
        if (!short_of.empty()) throw std::runtime_error(short_of + "; free some, or run the module in-process");
        x.shared = static_cast<SharedHeader*>(x.memory->data());
        x.shared->magic = kMagic;
        x.shared->layout_version = kLayoutVersion;
        x.shared->total_bytes = bytes;
        x.shared->max_channels = max_channels;
        x.shared->max_samples = max_samples;
        x.shared->worker_cpu = -1;
        x.shared->worker_priority = 0;
        static std::atomic<unsigned> counter{0};
#if defined(_WIN32)
        const unsigned long self = GetCurrentProcessId();
#else
        const unsigned long self = static_cast<unsigned long>(getpid());
#endif
        x.stacks_path = fs::temp_directory_path() / ("oe-pyproc-" + std::to_string(self) + "-" +
                                                     std::to_string(counter.fetch_add(1)) + ".stacks");
        std::ofstream(x.stacks_path, std::ios::trunc).close();
        const std::vector<std::string> arguments{program.u8string(),
                                                 "--python-home", loaded->home.root.u8string(),
                                                 "--engine-dir", loaded->engine_path.parent_path().u8string(),
                                                 "--memory", x.memory->name(),
                                                 "--bytes", std::to_string(bytes),
                                                 "--fault-report", x.stacks_path.u8string(),
                                                 "--parent", std::to_string(self)};
        const std::string problem = common::startDetached(arguments, "", &x.process, true);
        if (!problem.empty()) throw std::runtime_error(problem);
    } catch (const std::exception& error) {
        x.start_problem = std::string("the module's worker could not start: ") + error.what();
        x.memory.reset();
        x.shared = nullptr;
        return;
    }
    x.running = true;
    // The module's values, those taken since, and who we are go with the first request after create.
    x.queue.count = 0;
    if (!x.host_fields.empty()) write_host_fields(x);
    for (const auto& [name, value] : x.taken_values) queue_call(x, CallKind::set_parameter, name + '\0' + value);
    if (x.acquiring) queue_call(x, CallKind::start_acquisition);
    ControlArea& control = x.shared->control;
    control.request = Request::create;
    control.num_channels = x.channels;
    control.sample_rate = x.rate;
    control.bit_volts = x.bit_volts;
    size_t used = 0;  // the names that fit, each NUL-terminated
    for (const auto& name : x.names) {
        if (used + name.size() + 1 > sizeof control.channel_names) break;
        std::memcpy(control.channel_names + used, name.c_str(), name.size() + 1);
        used += name.size() + 1;
    }
    if (used < sizeof control.channel_names) control.channel_names[used] = '\0';
    copy_out(x.script, control.first, sizeof control.first);
    copy_out(x.initial_values, control.second, sizeof control.second);
    x.loading = true;
    post(x, control.slot, x.control_posted, x.control_posted_at);
}

// Ends the worker: asked first when it can still answer, then killed; reaped within a bound.
void stop_worker(Isolated& x, bool ask_first) {
    if (!x.running) return;
    if (ask_first && x.fate == kAlive && idle(x.shared->control.slot) && idle(x.shared->block.slot)) {
        std::lock_guard<std::mutex> lock(x.control_mutex);
        x.shared->control.request = Request::quit;
        post(x, x.shared->control.slot, x.control_posted, x.control_posted_at);
        const auto until = Clock::now() + kQuitWait;
        while (Clock::now() < until && !common::reapEnded(x.process)) std::this_thread::sleep_for(1ms);
    }
    if (x.process.pid > 0 || x.process.handle) {
        common::killProcess(x.process);
        const auto until = Clock::now() + 2s;
        while (Clock::now() < until && !common::reapEnded(x.process)) std::this_thread::sleep_for(1ms);
    }
    x.running = false;
    x.loading = false;
    x.shared = nullptr;
    x.memory.reset();
}

// A worker at the audio priority that has been on one request for kDemoteAfter goes back to the normal
// priority: a module stuck in a loop must not keep a CPU from the rest of the machine. A buffer late
// now and then (the first of an acquisition, a collection) keeps it. It takes the audio priority again
// at the next start of acquisition.
void demote_if_stuck(Isolated& x, double waited_s) {
    if (waited_s > kDemoteAfter.count() && x.shared->worker_priority.load(std::memory_order_relaxed) > 0 &&
        run_normally(x.process.pid))
        x.shared->worker_priority.store(0, std::memory_order_relaxed);
    x.priority.store(x.shared->worker_priority.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

// The monitor's look, every 20 ms: a worker that ended, a request that does not come back.
void check_worker(Isolated& x) {
    std::lock_guard<std::mutex> lock(x.lifecycle);
    if (!x.running) return;
    if (x.fate != kCrashed) {
        if (const auto end = common::reapEnded(x.process)) {
            x.fate = kCrashed;
            x.loading = false;
            read_stacks_into_cause(x, "the module's process died: " + end->describe());
            return;
        }
    }
    if (x.fate == kCrashed) return;
    if (x.loading && idle(x.shared->control.slot)) x.loading = false;
    const double limit = x.stuck_after_s.load();
    const int64_t now = now_ns();
    const auto late_for = [&](const Slot& slot, const std::atomic<int64_t>& posted_at) {
        return idle(slot) ? 0.0 : (now - posted_at.load()) / 1e9;
    };
    const double waited = std::max(late_for(x.shared->block.slot, x.block_posted_at),
                                   late_for(x.shared->control.slot, x.control_posted_at));
    demote_if_stuck(x, waited);
    if (waited <= limit) {
        if (x.fate == kStuck) {  // it came back
            x.fate = kAlive;
            x.set_cause("");
        }
        return;
    }
    if (x.fate == kStuck) return;
    std::ofstream(x.stacks_path, std::ios::trunc).close();  // the stacks asked for now, alone in the file
    common::requestStacks(x.process);
    std::this_thread::sleep_for(kStacksWait);
    const char* what = x.loading ? "loading the module (its import or __init__)" : "a call into the module";
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.1f", waited);
    read_stacks_into_cause(x, std::string("stuck: ") + what + " has not returned for " + seconds +
                                  " s; data pass through untouched (Reload, or stop acquisition, stops its process)");
    x.fate = kStuck;
}

void monitor(Isolated* x) {
    std::unique_lock<std::mutex> lock(x->monitor_mutex);
    while (!x->monitor_stop) {
        lock.unlock();
        check_worker(*x);
        lock.lock();
        x->monitor_wake.wait_for(lock, 20ms, [x] { return x->monitor_stop; });
    }
}

// ---- the table ----

int start(const pyproc_start_options* options, char* err, size_t err_len) {
    return loaded->api->start(options, err, err_len);
}

size_t python_version(char* out, size_t len) { return loaded->api->python_version(out, len); }

pyproc_instance* create(const char* script_path, const pyproc_stream* stream, const char* parameter_values) {
    auto* x = new Isolated;
    x->script = script_path ? script_path : "";
    x->initial_values = parameter_values ? parameter_values : "";
    if (stream) {
        x->channels = stream->num_channels;
        x->rate = stream->sample_rate;
        x->bit_volts = stream->bit_volts;
        for (int32_t c = 0; stream->channel_names && c < stream->num_channels; ++c)
            x->names.emplace_back(stream->channel_names[c] ? stream->channel_names[c] : "");
    }
    x->block_spikes.reserve(kSpikeCapacity);
    x->control_spikes.reserve(kSpikeCapacity);
    if (!x->script.empty()) {
        std::lock_guard<std::mutex> lock(x->lifecycle);
        start_worker(*x);
    }
    x->monitor = std::thread(monitor, x);
    return reinterpret_cast<pyproc_instance*>(x);
}

void destroy(pyproc_instance* instance) {
    Isolated* x = as_isolated(instance);
    if (!x) return;
    {
        std::lock_guard<std::mutex> lock(x->monitor_mutex);
        x->monitor_stop = true;
    }
    x->monitor_wake.notify_all();
    x->monitor.join();
    {
        std::lock_guard<std::mutex> lock(x->lifecycle);
        stop_worker(*x, true);
    }
    std::error_code ignored;
    if (!x->stacks_path.empty()) fs::remove(x->stacks_path, ignored);
    delete x;
}

pyproc_state state(const pyproc_instance* instance) {
    const Isolated* x = as_isolated(instance);
    if (!x || x->script.empty()) return PYPROC_NO_MODULE;
    if (!x->start_problem.empty()) return PYPROC_ERRORED;
    if (x->fate == kCrashed) return PYPROC_CRASHED;
    if (x->fate == kStuck) return PYPROC_STUCK;
    if (!x->shared) return PYPROC_ERRORED;
    if (x->loading) return PYPROC_LOADING;
    int32_t published = PYPROC_ERRORED;
    status_text(*x, &StatusArea::error, &published);
    return static_cast<pyproc_state>(published);
}

// Reload: the worker re-imports the module when it can; one that died or is stuck is replaced.
pyproc_state reload(pyproc_instance* instance) {
    Isolated* x = as_isolated(instance);
    if (!x || x->script.empty()) return PYPROC_NO_MODULE;
    std::lock_guard<std::mutex> lock(x->lifecycle);
    const bool can_go_on = x->running && x->fate == kAlive && !x->loading && idle(x->shared->control.slot) &&
                           idle(x->shared->block.slot);
    if (can_go_on) {
        std::lock_guard<std::mutex> control(x->control_mutex);
        x->shared->control.request = Request::reload;
        move_queue(*x, x->shared->control.calls);
        x->loading = true;
        post(*x, x->shared->control.slot, x->control_posted, x->control_posted_at);
        return PYPROC_LOADING;
    }
    stop_worker(*x, false);
    start_worker(*x);
    return state(instance);
}

size_t error_text(const pyproc_instance* instance, char* out, size_t len) {
    const Isolated* x = as_isolated(instance);
    if (!x) return copy_out("no instance", out, len);
    if (!x->start_problem.empty()) return copy_out(x->start_problem, out, len);
    if (x->fate != kAlive) return copy_out(x->read_cause(), out, len);
    if (!x->shared || x->loading) return copy_out("", out, len);
    return copy_out(status_text(*x, &StatusArea::error), out, len);
}

size_t warning_text(const pyproc_instance* instance, char* out, size_t len) {
    const Isolated* x = as_isolated(instance);
    if (!x || !x->shared) return copy_out("", out, len);
    std::string text = status_text(*x, &StatusArea::warnings);
    const auto add = [&text](const std::string& line) { text += (text.empty() ? "" : "\n") + line; };
    if (x->oversize)
        add("a buffer larger than the worker's memory (" + std::to_string(x->shared->max_samples) +
            " samples) passed through untouched");
    if (x->dropped)
        add("events, spikes or calls beyond the worker's capacities were not delivered (per buffer: " +
            std::to_string(kEventCapacity) + " events, " + std::to_string(kSpikeCapacity) + " spikes)");
    return copy_out(text, out, len);
}

// The module's outputs as the engine gives them: events straight from the shared memory, spikes
// made to point into it (valid until the next request of that slot is posted).
pyproc_outputs outputs_of(const OutputArea& area, std::vector<pyproc_spike>& spikes, std::atomic<bool>& dropped) {
    spikes.clear();
    for (uint32_t i = 0; i < area.num_spikes && i < kSpikeCapacity; ++i) {
        const SpikeRecord& spike = area.spikes[i];
        spikes.push_back({spike.sample_number, spike.electrode_name, spike.source_node, spike.sorted_id,
                          spike.num_channels, spike.num_samples, area.waveforms + spike.waveform_offset});
    }
    if (area.dropped) dropped = true;
    return {area.events, std::min<size_t>(area.num_events, kEventCapacity), spikes.data(), spikes.size()};
}

void clear_area(OutputArea& area) {
    area.num_events = area.num_spikes = area.waveform_used = area.dropped = 0;
}

bool write_inputs(Isolated& x, const pyproc_block& block) {
    BlockArea& area = x.shared->block;
    const int32_t channels = block.num_samples > 0 ? block.num_channels : 0;
    if (channels > x.shared->max_channels || block.num_samples > x.shared->max_samples) {
        x.oversize = true;
        return false;
    }
    area.first_sample_number = block.first_sample_number;
    area.num_samples = std::max(0, block.num_samples);
    area.num_channels = channels;
    area.num_derived = block.derived && block.num_samples > 0 ? std::min(block.num_derived, kMaxDerived) : 0;
    x.written_slot = area.sample_slot;  // the worker names the next buffer's slot before it answers
    float* samples = shared_samples(x.shared, x.written_slot);
    for (int32_t c = 0; c < channels; ++c)
        std::memcpy(samples + static_cast<size_t>(c) * static_cast<size_t>(block.num_samples), block.channels[c],
                    sizeof(float) * static_cast<size_t>(block.num_samples));
    area.num_events = 0;
    for (size_t i = 0; i < block.num_events; ++i) {
        if (area.num_events == kEventCapacity) {
            x.dropped = true;
            break;
        }
        const pyproc_ttl_input& event = block.events[i];
        EventRecord& record = area.events[area.num_events++];
        record.sample_number = event.sample_number;
        record.source_node = event.source_node;
        record.line = event.line;
        record.state = event.state;
        copy_name(record.channel_name, event.channel_name);
    }
    area.num_spikes = 0;
    area.waveform_used = 0;
    for (size_t i = 0; i < block.num_spikes; ++i) {
        const pyproc_spike& spike = block.spikes[i];
        const size_t floats = static_cast<size_t>(std::max(0, spike.num_channels)) * static_cast<size_t>(std::max(0, spike.num_samples));
        if (area.num_spikes == kSpikeCapacity || area.waveform_used + floats > kWaveformFloats) {
            x.dropped = true;
            break;
        }
        SpikeRecord& record = area.spikes[area.num_spikes++];
        record.sample_number = spike.sample_number;
        record.source_node = spike.source_node;
        record.sorted_id = spike.sorted_id;
        record.num_channels = spike.num_channels;
        record.num_samples = spike.num_samples;
        record.waveform_offset = area.waveform_used;
        copy_name(record.electrode_name, spike.electrode_name);
        if (floats) std::memcpy(area.waveforms + area.waveform_used, spike.waveform, floats * sizeof(float));
        area.waveform_used += static_cast<uint32_t>(floats);
    }
    return true;
}

// Until the worker answered the buffer just posted, or `until`: a short spin catches a fast answer
// without a system call; then the thread sleeps on the slot (the worker rings when it answers). A
// real-time thread that went on spinning would keep a worker woken on its core from running.
bool wait_for_answer(Isolated& x, Clock::time_point until) {
    BlockArea& area = x.shared->block;
    // A worker spinning on our CPU cannot run until we sleep: then we sleep at once.
    const int32_t cpu = current_cpu();
    const bool beside_us = cpu >= 0 && x.shared->worker_cpu.load(std::memory_order_relaxed) == cpu;
    const auto spin_until = beside_us ? Clock::now() : std::min(until, Clock::now() + kAnswerSpin);
    for (uint32_t spins = 0; !answered(area.slot, x.block_posted); ++spins) {
        cpu_relax();
        if (spins % 64 == 0 && Clock::now() > spin_until) break;
    }
    // In slices of at most 20 ms: a worker that died (the monitor says so within 20 ms) ends the wait
    // too, which matters where the deadline is long (pyproc-host's is the stuck limit).
    while (!answered(area.slot, x.block_posted)) {
        const auto now = Clock::now();
        if (now >= until || x.fate.load(std::memory_order_relaxed) == kCrashed) return false;
        area.client_sleeping.store(1, std::memory_order_seq_cst);
        const uint32_t before = x.block_posted - 1;
        const auto slice = std::min<Clock::duration>(until - now, 20ms);
        if (area.slot.done.load(std::memory_order_seq_cst) == before)
            x.memory->sleep(area.slot.done, before, std::chrono::duration_cast<std::chrono::microseconds>(slice).count() + 1,
                            SharedMemory::client_bell);
        area.client_sleeping.store(0, std::memory_order_relaxed);
    }
    return true;
}

// The audio thread's call: copies in, wakes the worker, waits up to the deadline (wait_for_answer),
// copies out. A worker still on an earlier buffer, gone or loading: the buffer passes through
// untouched, at once.
// The derived channels of a buffer the module did not answer in time (or at all): zeros, never stale values.
void zero_derived(const pyproc_block& block, int32_t from = 0) {
    for (int32_t k = from; block.derived && k < block.num_derived; ++k)
        if (block.derived[k]) std::memset(block.derived[k], 0, sizeof(float) * static_cast<size_t>(std::max(0, block.num_samples)));
}

void copy_derived_out(Isolated& x, const pyproc_block& block) {
    const int32_t filled = std::clamp(x.shared->block.num_derived, 0, std::min(block.num_derived, kMaxDerived));
    for (int32_t k = 0; block.derived && k < filled; ++k)
        std::memcpy(block.derived[k], derived_samples(x.shared, k), sizeof(float) * static_cast<size_t>(block.num_samples));
    zero_derived(block, filled);
}

void run_block(pyproc_instance* instance, const pyproc_block* block, pyproc_outputs* out) {
    if (out) *out = pyproc_outputs{};
    if (block) zero_derived(*block);
    Isolated* x = as_isolated(instance);
    if (!x || !block || !usable(*x)) {
        if (x && x->shared && block && block->num_samples > 0) x->late.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    BlockArea& area = x->shared->block;
    const auto started = Clock::now();
    const double buffer_us = x->rate > 0 ? 1e6 * std::max(0, block->num_samples) / x->rate : 0;
    if (!answered(area.slot, x->block_posted)) {  // still on a late buffer
        x->late.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    if (x->block_outputs_returned) clear_area(area.out);  // else a late buffer's outputs come out with this one
    if (!write_inputs(*x, *block)) {
        x->late.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    move_queue(*x, area.calls);
    area.posted_at_ns = now_ns();  // the worker learns the buffers' rhythm from it
    x->block_outputs_returned = false;
    post(*x, area.slot, x->block_posted, x->block_posted_at);

    const double deadline = x->deadline_us.load(std::memory_order_relaxed);
    const auto budget = std::chrono::duration<double, std::micro>(deadline > 0 ? deadline : std::max(buffer_us / 2, 1000.0));
    if (!wait_for_answer(*x, started + std::chrono::duration_cast<Clock::duration>(budget))) {
        x->late.fetch_add(1, std::memory_order_relaxed);
        x->latency.add(std::chrono::duration<double, std::micro>(Clock::now() - started).count(), buffer_us);
        return;
    }
    const float* samples = shared_samples(x->shared, x->written_slot);
    const int32_t channels = area.num_channels;
    for (int32_t c = 0; c < channels; ++c)
        std::memcpy(block->channels[c], samples + static_cast<size_t>(c) * static_cast<size_t>(block->num_samples),
                    sizeof(float) * static_cast<size_t>(block->num_samples));
    copy_derived_out(*x, *block);
    if (out) *out = outputs_of(area.out, x->block_spikes, x->dropped);
    x->block_outputs_returned = true;
    if (block->num_samples > 0)
        x->latency.add(std::chrono::duration<double, std::micro>(Clock::now() - started).count(), buffer_us);
}

void start_acquisition(pyproc_instance* instance) {
    if (Isolated* x = as_isolated(instance)) {
        x->acquiring = true;
        queue_call(*x, CallKind::start_acquisition);
    }
}

// The module's stop_acquisition() runs before this returns, as in-process; a worker that does not
// answer in time is stopped (the GUI's stop must never hang on a module).
void stop_acquisition(pyproc_instance* instance) {
    Isolated* x = as_isolated(instance);
    if (!x) return;
    x->acquiring = false;
    queue_call(*x, CallKind::stop_acquisition);
    if (!x->shared || (x->loading && x->fate != kStuck)) return;  // still importing: it gets the call later
    std::lock_guard<std::mutex> lock(x->lifecycle);
    if (!x->running || x->fate == kCrashed) return;
    const auto waited_from = Clock::now();
    while (x->fate == kAlive && !idle(x->shared->block.slot) && Clock::now() - waited_from < kStopWait)
        std::this_thread::sleep_for(100us);
    if (x->fate == kAlive && control_request(*x, Request::flush, kStopWait, [](ControlArea&) {})) return;
    const std::string why = x->fate == kStuck ? x->read_cause() : "it did not answer stop_acquisition within 2 s";
    common::requestStacks(x->process);
    std::this_thread::sleep_for(kStacksWait);
    stop_worker(*x, false);
    x->fate = kCrashed;
    if (x->read_cause().empty() || x->read_cause().rfind("stuck", 0) != 0)
        read_stacks_into_cause(*x, "stopped at stop acquisition: " + why + "; Reload starts it again");
    else
        x->set_cause("stopped at stop acquisition, " + x->read_cause() + "\nReload starts it again");
}

void start_recording(pyproc_instance* instance, const char* recording_dir) {
    if (Isolated* x = as_isolated(instance)) queue_call(*x, CallKind::start_recording, recording_dir ? recording_dir : "");
}

void stop_recording(pyproc_instance* instance) {
    if (Isolated* x = as_isolated(instance)) queue_call(*x, CallKind::stop_recording);
}

void outputs(pyproc_instance* instance, pyproc_outputs* out) {
    if (!out) return;
    *out = pyproc_outputs{};
    Isolated* x = as_isolated(instance);
    if (!x || !usable(*x)) return;
    if (control_request(*x, Request::take_outputs, kAnswerWait, [](ControlArea& control) { clear_area(control.out); }))
        *out = outputs_of(x->shared->control.out, x->control_spikes, x->dropped);
}

// Only what was delivered goes, as in the engine: nothing to ask the worker.
void clear_outputs(pyproc_instance* instance) {
    Isolated* x = as_isolated(instance);
    if (!x || !x->shared) return;
    if (x->block_outputs_returned && idle(x->shared->block.slot)) clear_area(x->shared->block.out);
    if (idle(x->shared->control.slot)) clear_area(x->shared->control.out);
}

void latency(const pyproc_instance* instance, pyproc_latency* out) {
    if (!out) return;
    const Isolated* x = as_isolated(instance);
    *out = x ? x->latency.summary() : pyproc_latency{};
    if (!x) return;
    out->late = x->late.load(std::memory_order_relaxed);
    out->worker_priority = x->priority.load(std::memory_order_relaxed);
}

size_t parameters(pyproc_instance* instance, char* out, size_t len) {
    Isolated* x = as_isolated(instance);
    const std::string none = R"({"parameters": [], "problems": [], "refused": []})";
    if (!x || !x->shared || x->loading) return copy_out(none, out, len);
    return copy_out(status_text(*x, &StatusArea::parameters), out, len);
}

int set_parameter(pyproc_instance* instance, const char* name, const char* value, char* err, size_t err_len) {
    Isolated* x = as_isolated(instance);
    if (!x || !name || !value) return copy_out("no instance", err, err_len), -1;
    std::string refusal;
    {
        std::lock_guard<std::mutex> lock(x->control_mutex);
        if (!usable(*x) || !idle(x->shared->control.slot)) {
            refusal = std::string(name) + ": the module is " +
                      (x->loading ? "still loading" : x->fate == kAlive ? "busy" : "not running") + "; try again";
        } else {
            ControlArea& control = x->shared->control;
            control.request = Request::set_parameter;
            copy_out(name, control.first, sizeof control.first);
            copy_out(value, control.second, sizeof control.second);
            control.calls.count = 0;  // queued calls go with requests that never overlap run_block
            post(*x, control.slot, x->control_posted, x->control_posted_at);
            if (!wait_control(*x, kAnswerWait)) refusal = std::string(name) + ": the module did not answer within 2 s";
            else if (control.result != 0) refusal = std::string(control.reply, strnlen(control.reply, sizeof control.reply));
        }
    }
    copy_out(refusal, err, err_len);
    if (!refusal.empty()) return -1;
    auto& taken = x->taken_values;
    taken.erase(std::remove_if(taken.begin(), taken.end(), [&](const auto& pair) { return pair.first == name; }), taken.end());
    taken.emplace_back(name, value);
    return 0;
}

// At once, even while the module loads or runs: a viewer names the instance by them.
void set_host_fields(pyproc_instance* instance, const char* host_fields_json) {
    Isolated* x = as_isolated(instance);
    if (!x || !host_fields_json) return;
    x->host_fields = host_fields_json;
    if (x->shared) write_host_fields(*x);
}

size_t live_status(const pyproc_instance* instance, char* out, size_t len) {
    const Isolated* x = as_isolated(instance);
    const std::string none = R"({"path": "", "error": "the module's worker is not running", "names": []})";
    if (!x || !x->shared || x->loading || x->fate != kAlive) return copy_out(none, out, len);
    const std::string live = status_text(*x, &StatusArea::live);
    return copy_out(live.empty() ? none : live, out, len);
}

void set_limits(pyproc_instance* instance, double deadline_us, double stuck_after_s) {
    if (Isolated* x = as_isolated(instance)) {
        x->deadline_us = std::max(0.0, deadline_us);
        x->stuck_after_s = stuck_after_s > 0 ? stuck_after_s : kDefaultStuckAfterSeconds;
    }
}

int become_worker(const char*, char* err, size_t err_len) {
    return copy_out("the isolated table has no worker of its own", err, err_len), -1;
}

int memory_in_use(pyproc_instance*, const void*) { return 0; }

// What the worker's engine says, while it can say it; else the last it knew (a crash keeps them).
size_t derived_channels(const pyproc_instance* instance, char* out, size_t len) {
    const Isolated* x = as_isolated(instance);
    if (!x) return copy_out(R"({"known": false, "channels": []})", out, len);
    std::lock_guard<std::mutex> lock(x->cause_mutex);
    if (x->shared && !x->loading && x->fate == kAlive) {
        const std::string now = status_text(*x, &StatusArea::derived);
        if (now.find("\"known\": true") != std::string::npos) x->known_derived = now;
    }
    return copy_out(x->known_derived.empty() ? R"({"known": false, "channels": []})" : x->known_derived, out, len);
}

const pyproc_engine_api table = {
    PYPROC_ENGINE_ABI_VERSION,
    start,
    python_version,
    create,
    destroy,
    reload,
    state,
    error_text,
    warning_text,
    run_block,
    start_acquisition,
    stop_acquisition,
    start_recording,
    stop_recording,
    outputs,
    clear_outputs,
    latency,
    parameters,
    set_parameter,
    set_host_fields,
    live_status,
    set_limits,
    become_worker,
    memory_in_use,
    derived_channels,
};

}  // namespace

fs::path worker_program(const fs::path& engine_path) {
    if (const char* chosen = std::getenv("PYPROC_WORKER"); chosen && *chosen) return fs::u8path(chosen);
#if defined(_WIN32)
    return engine_path.parent_path() / "pyproc-worker.exe";
#else
    return engine_path.parent_path() / "pyproc-worker";
#endif
}

const pyproc_engine_api* isolated_api(const loader::LoadedEngine& engine) {
    loaded = &engine;
    return &table;
}

}  // namespace pyproc::isolation
