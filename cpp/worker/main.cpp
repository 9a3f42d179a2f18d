// pyproc-worker: one isolated module's process. It loads the engine for the Python Home it is given
// (as the GUI plugin and pyproc-host do), maps the memory its client made (cpp/isolation), and
// serves the client's requests one at a time: buffers through the engine's run_block, and the
// rest. Started by the client only; it ends when asked, or when its parent ends.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <engine_text.h>
#include <loader.h>

#include "realtime.h"
#include "shared_layout.h"
#include "shared_memory.h"

#if !defined(_WIN32)
#include <unistd.h>
#endif
#if defined(__linux__)
#include <sys/prctl.h>
#endif

namespace {

using namespace pyproc;
using namespace pyproc::isolation;
using common::engine_text;

constexpr int64_t kSpinLeadNs = 500000;  // spin from this long before the next buffer is due

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Arguments {
    std::string python_home;
    std::string engine_dir;
    std::string memory_name;
    size_t memory_bytes = 0;
    std::string fault_report;
    long parent = 0;
};

Arguments parse(int argc, char** argv) {
    Arguments arguments;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i], value = argv[i + 1];
        if (flag == "--python-home") arguments.python_home = value;
        else if (flag == "--engine-dir") arguments.engine_dir = value;
        else if (flag == "--memory") arguments.memory_name = value;
        else if (flag == "--bytes") arguments.memory_bytes = std::stoull(value);
        else if (flag == "--fault-report") arguments.fault_report = value;
        else if (flag == "--parent") arguments.parent = std::stol(value);
    }
    return arguments;
}

// No orphans: the worker ends within 100 ms of its parent (a parent-death signal would fire when the
// thread that started us ends, and the GUI may start workers from any thread). Windows: the client's
// job object ends us.
void leave_with_parent(long parent) {
#if !defined(_WIN32)
    std::thread([parent] {
        while (static_cast<long>(getppid()) == parent) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        std::_Exit(0);
    }).detach();
#else
    (void)parent;
#endif
}

void copy_text(char* out, size_t capacity, const std::string& text) {
    const size_t n = std::min(text.size(), capacity - 1);
    std::memcpy(out, text.data(), n);
    out[n] = '\0';
}



class Worker {
public:
    Worker(SharedMemory& memory, SharedHeader& shared, long parent) : memory_(memory), shared_(shared), parent_(parent) {
        channels_.resize(static_cast<size_t>(shared.max_channels));
        derived_.resize(static_cast<size_t>(kMaxDerived));
        events_.reserve(kEventCapacity);
        spikes_.reserve(kSpikeCapacity);
    }

    void use_engine(const pyproc_engine_api* api) { api_ = api; }
    void fail_to_start(const std::string& problem) { start_problem_ = problem; }

    [[noreturn]] void serve() {
        for (;;) {
            const uint32_t seen = shared_.wake.load(std::memory_order_acquire);
            if (pending(shared_.control.slot)) serve_control();
            else if (pending(shared_.block.slot)) serve_block();
            else if (!apply_host_fields()) wait_for_work(seen);
        }
    }

private:
    static bool pending(const Slot& slot) {
        return slot.posted.load(std::memory_order_acquire) != slot.done.load(std::memory_order_relaxed);
    }

    static void answer(Slot& slot) { slot.done.store(slot.posted.load(std::memory_order_relaxed), std::memory_order_release); }

    // The buffer's answer, waking the client if it went to sleep waiting for it.
    void answer_block() {
        BlockArea& block = shared_.block;
        block.slot.done.store(block.slot.posted.load(std::memory_order_relaxed), std::memory_order_seq_cst);
        if (block.client_sleeping.load(std::memory_order_seq_cst)) memory_.ring(block.slot.done, SharedMemory::client_bell);
    }

    // Waking a sleeping process costs tens to hundreds of microseconds (more on a VM), so the worker
    // learns the buffers' rhythm and spins from shortly before the next one is due (0.5 ms, plus three
    // times the rhythm's jitter and twice a timed sleep's lateness) until it comes;
    // between buffers, and whenever the rhythm is unknown or broken, it sleeps until rung.
    void wait_for_work(uint32_t seen) {
        const int64_t now = now_ns();
        if (gap_ns_ > 0) {
            const int64_t due = last_post_ns_ + gap_ns_;
            const int64_t lead = kSpinLeadNs + 3 * jitter_ns_ + 2 * oversleep_ns_;
            if (now < due - lead) {
                sleep_until_rung(seen, (due - lead - now) / 1000 + 1);
                const int64_t woke = now_ns();
                if (!pending(shared_.control.slot) && !pending(shared_.block.slot) && woke < due)
                    oversleep_ns_ = (oversleep_ns_ * 7 + std::max<int64_t>(0, woke - (due - lead))) / 8;
                return;
            }
            if (now < due + std::max<int64_t>(gap_ns_ / 4, 1000000)) return spin_until_posted(due + gap_ns_ / 4);
        }
        spin_until_posted(now + 30000);
        if (!pending(shared_.control.slot) && !pending(shared_.block.slot)) sleep_until_rung(seen, 100000);
    }

    void spin_until_posted(int64_t until_ns) {
        for (uint32_t spins = 0;; ++spins) {
            if (pending(shared_.control.slot) || pending(shared_.block.slot)) return;
            if (spins % 64 != 0) continue;
            shared_.worker_cpu.store(current_cpu(), std::memory_order_relaxed);
            if (now_ns() > until_ns) return;
        }
    }

    void sleep_until_rung(uint32_t seen, int64_t timeout_us) {
        shared_.worker_sleeping.store(1, std::memory_order_seq_cst);
        if (shared_.wake.load(std::memory_order_seq_cst) == seen) memory_.sleep(shared_.wake, seen, timeout_us, SharedMemory::worker_bell);
        shared_.worker_sleeping.store(0, std::memory_order_relaxed);
    }

    // The gap between posts: an average that follows a changed buffer size within a few buffers; a
    // pause (acquisition stopped) is not a gap.
    void learn_rhythm(int64_t posted_ns) {
        const int64_t gap = posted_ns - last_post_ns_;
        if (last_post_ns_ > 0 && gap > 0 && gap < 1000000000) {
            if (gap_ns_ > 0) jitter_ns_ = (jitter_ns_ * 7 + std::min(std::abs(gap - gap_ns_), gap_ns_ / 4)) / 8;
            gap_ns_ = gap_ns_ > 0 ? (gap_ns_ * 7 + gap) / 8 : gap;
        } else {
            gap_ns_ = jitter_ns_ = 0;
        }
        last_post_ns_ = posted_ns;
    }

    // The host's fields, when they changed since last applied (the client writes them under a seqlock).
    bool apply_host_fields() {
        const uint32_t version = shared_.host_fields_version.load(std::memory_order_acquire);
        if (!instance_ || version == applied_host_fields_ || version % 2) return false;
        std::string fields(shared_.host_fields, strnlen(shared_.host_fields, sizeof shared_.host_fields));
        std::atomic_thread_fence(std::memory_order_acquire);
        if (shared_.host_fields_version.load(std::memory_order_relaxed) != version) return false;
        api_->set_host_fields(instance_, fields.c_str());
        applied_host_fields_ = version;
        publish();
        return true;
    }

    void run_calls(CallQueue& queue) {
        for (uint32_t i = 0; i < queue.count && i < kMaxQueuedCalls; ++i) {
            const QueuedCall& call = queue.calls[i];
            switch (call.kind) {
                case CallKind::start_acquisition:
                    api_->start_acquisition(instance_);
                    priority_wanted_ = kAudioPriority;
                    break;
                case CallKind::stop_acquisition:
                    api_->stop_acquisition(instance_);
                    priority_wanted_ = kNormalPriority;
                    break;
                case CallKind::start_recording: api_->start_recording(instance_, call.text); break;
                case CallKind::stop_recording: api_->stop_recording(instance_); break;
                case CallKind::set_parameter: {
                    const char* value = call.text + std::strlen(call.text) + 1;  // name\0value
                    char refusal[256];
                    api_->set_parameter(instance_, call.text, value, refusal, sizeof refusal);
                    break;
                }
            }
        }
        queue.count = 0;
    }

    void serve_block() {
        BlockArea& block = shared_.block;
        learn_rhythm(block.posted_at_ns);
        if (instance_) run_calls(block.calls);
        const int32_t num_channels = std::min(block.num_channels, shared_.max_channels);
        const int32_t num_samples = std::min(block.num_samples, shared_.max_samples);
        float* samples = shared_samples(&shared_, block.sample_slot);
        for (int32_t c = 0; c < num_channels; ++c)
            channels_[static_cast<size_t>(c)] = samples + static_cast<size_t>(c) * static_cast<size_t>(num_samples);
        events_.clear();
        for (uint32_t i = 0; i < block.num_events && i < kEventCapacity; ++i) {
            const EventRecord& event = block.events[i];
            events_.push_back({event.sample_number, event.channel_name, event.source_node, event.line, event.state});
        }
        spikes_.clear();
        for (uint32_t i = 0; i < block.num_spikes && i < kSpikeCapacity; ++i) {
            const SpikeRecord& spike = block.spikes[i];
            spikes_.push_back({spike.sample_number, spike.electrode_name, spike.source_node, spike.sorted_id,
                               spike.num_channels, spike.num_samples, block.waveforms + spike.waveform_offset});
        }
        const int32_t num_derived = derived_room(std::clamp(block.num_derived, 0, kMaxDerived));
        for (int32_t k = 0; k < num_derived; ++k) derived_[static_cast<size_t>(k)] = derived_samples(&shared_, k);
        const pyproc_block inputs{block.first_sample_number, num_samples, channels_.data(), num_channels,
                                  events_.data(), events_.size(), spikes_.data(), spikes_.size(),
                                  block.sample_slot < kSpareSlot ? PYPROC_BLOCK_LEND : 0u,
                                  derived_.data(), num_derived};
        block.num_derived = num_derived;
        pyproc_outputs out{};
        if (instance_) api_->run_block(instance_, &inputs, &out);
        append(block.out, out);
        block.sample_slot = free_slot();
        answer_block();
        follow_priority();
        publish_if_changed();
    }

    // While acquiring, the module runs at the GUI's audio priority (realtime.h); between acquisitions
    // (loading, Reload, parameters) at the normal one. Changed after an answer, off the buffer's path.
    void follow_priority() {
        if (priority_wanted_ == kUnchanged) return;
        const int audio = priority_wanted_ == kAudioPriority ? highest_realtime_priority(parent_) : 0;
        priority_wanted_ = kUnchanged;
        shared_.worker_priority.store(follow_audio_priority(audio), std::memory_order_relaxed);
    }

    void serve_control() {
        ControlArea& control = shared_.control;
        if (control.request == Request::create) {
            if (api_) instance_ = create(control);
            apply_host_fields();
            run_calls(control.calls);
            publish();
            answer(control.slot);
            return;
        }
        if (instance_) run_calls(control.calls);
        pyproc_outputs out{};
        switch (control.request) {
            case Request::create: break;
            case Request::reload: if (instance_) api_->reload(instance_); break;
            case Request::set_parameter:
                control.result = instance_ ? api_->set_parameter(instance_, control.first, control.second, control.reply,
                                                                 sizeof control.reply)
                                           : -1;
                if (!instance_) copy_text(control.reply, sizeof control.reply, "the module is not loaded");
                break;
            case Request::take_outputs:
                if (instance_) api_->outputs(instance_, &out);
                append(control.out, out);
                break;
            case Request::flush: break;
            case Request::quit:
                if (instance_) api_->destroy(instance_);
                answer(control.slot);
                std::fflush(nullptr);
                std::_Exit(0);
        }
        publish();
        answer(control.slot);
        follow_priority();
    }

    // The client's stream: its channel names come NUL-terminated, as many as fit.
    pyproc_instance* create(const ControlArea& control) {
        std::vector<const char*> names;
        for (size_t at = 0; at < sizeof control.channel_names && control.channel_names[at] &&
                            names.size() < static_cast<size_t>(std::max(0, control.num_channels));
             at += std::strlen(control.channel_names + at) + 1)
            names.push_back(control.channel_names + at);
        const pyproc_stream stream{control.num_channels, control.sample_rate,
                                   names.size() == static_cast<size_t>(control.num_channels) ? names.data() : nullptr,
                                   control.bit_volts};
        return api_->create(control.first, &stream, control.second);
    }

    // How many of WANTED derived channels have memory: reserved before their first use, as the slots.
    int32_t derived_room(int32_t wanted) {
        if (wanted > derived_reserved_) {
            const size_t channel_bytes = sizeof(float) * static_cast<size_t>(shared_.max_samples);
            const size_t from = derived_offset(shared_.max_channels, shared_.max_samples) + channel_bytes * derived_reserved_;
            if (memory_.reserve(from, channel_bytes * static_cast<size_t>(wanted - derived_reserved_)).empty())
                derived_reserved_ = wanted;
        }
        return std::min(wanted, derived_reserved_);
    }

    // The slot for the next buffer: the first whose memory the module does not hold, else the spare
    // one (never lent: the engine copies out of it).
    uint32_t free_slot() {
        if (!instance_) return 0;
        for (uint32_t slot = 0; slot < kSampleSlots; ++slot)
            if (!api_->memory_in_use(instance_, shared_samples(&shared_, slot)) && reserved(slot)) return slot;
        return kSpareSlot;
    }

    // The client reserved the first slot and the spare; the others get their memory before their first
    // use, and a slot that cannot is never named (a full /dev/shm must not become SIGBUS in the GUI).
    bool reserved(uint32_t slot) {
        if (reserved_[slot] == 0) {
            const size_t bytes = sizeof(float) * slot_floats(shared_.max_channels, shared_.max_samples);
            reserved_[slot] = slot == 0 || memory_.reserve(slot_offset(shared_.max_channels, shared_.max_samples, slot),
                                                           bytes).empty() ? 1 : -1;
        }
        return reserved_[slot] > 0;
    }

    // What Python sent, after what the client has not taken yet; what does not fit is counted.
    static void append(OutputArea& area, const pyproc_outputs& out) {
        for (size_t i = 0; i < out.num_events; ++i) {
            if (area.num_events == kEventCapacity) {
                ++area.dropped;
                continue;
            }
            area.events[area.num_events++] = out.events[i];
        }
        for (size_t i = 0; i < out.num_spikes; ++i) {
            const pyproc_spike& spike = out.spikes[i];
            const size_t floats = static_cast<size_t>(std::max(0, spike.num_channels)) * static_cast<size_t>(std::max(0, spike.num_samples));
            if (area.num_spikes == kSpikeCapacity || area.waveform_used + floats > kWaveformFloats) {
                ++area.dropped;
                continue;
            }
            SpikeRecord& record = area.spikes[area.num_spikes++];
            record = {spike.sample_number, spike.source_node, spike.sorted_id, spike.num_channels, spike.num_samples,
                      area.waveform_used, {}};
            copy_text(record.electrode_name, kNameBytes, spike.electrode_name ? spike.electrode_name : "");
            if (floats) std::memcpy(area.waveforms + area.waveform_used, spike.waveform, floats * sizeof(float));
            area.waveform_used += static_cast<uint32_t>(floats);
        }
    }

    // The instance's state, texts and parameters for the client; a seqlock, so a reader never waits.
    void publish() {
        StatusArea& status = shared_.status;
        const std::string error = api_ ? engine_text(api_->error_text, instance_) : start_problem_;
        const std::string warnings = api_ ? engine_text(api_->warning_text, instance_) : "";
        const std::string parameters = api_ && instance_ ? engine_text(api_->parameters, instance_)
                                                         : R"({"parameters": [], "problems": [], "refused": []})";
        const std::string live = api_ ? engine_text(api_->live_status, instance_) : "";
        const std::string derived = api_ && instance_ ? engine_text(api_->derived_channels, instance_) : "";
        status.sequence.fetch_add(1, std::memory_order_acq_rel);
        std::atomic_thread_fence(std::memory_order_release);
        status.state = api_ ? api_->state(instance_) : PYPROC_ERRORED;
        copy_text(status.error, sizeof status.error, error);
        copy_text(status.warnings, sizeof status.warnings, warnings);
        copy_text(status.parameters, sizeof status.parameters, parameters);
        copy_text(status.live, sizeof status.live, live);
        copy_text(status.derived, sizeof status.derived, derived);
        status.sequence.fetch_add(1, std::memory_order_release);
        published_state_ = status.state;
        last_publish_ = std::chrono::steady_clock::now();
    }

    // After a buffer: everything at once when the state changed (an error), else at most 5 times a
    // second; the live names' counts after every buffer (a reader compares them with what it read).
    void publish_if_changed() {
        if (!api_) return;
        if (api_->state(instance_) != published_state_ ||
            std::chrono::steady_clock::now() - last_publish_ > std::chrono::milliseconds(200))
            return publish();
        const std::string live = engine_text(api_->live_status, instance_);
        StatusArea& status = shared_.status;
        status.sequence.fetch_add(1, std::memory_order_acq_rel);
        std::atomic_thread_fence(std::memory_order_release);
        copy_text(status.live, sizeof status.live, live);
        status.sequence.fetch_add(1, std::memory_order_release);
    }

    enum PriorityWanted { kUnchanged, kAudioPriority, kNormalPriority };

    SharedMemory& memory_;
    SharedHeader& shared_;
    const long parent_;
    PriorityWanted priority_wanted_ = kUnchanged;
    const pyproc_engine_api* api_ = nullptr;
    pyproc_instance* instance_ = nullptr;
    std::string start_problem_;
    std::vector<float*> channels_;
    std::vector<float*> derived_;
    int32_t derived_reserved_ = 0;
    std::vector<pyproc_ttl_input> events_;
    std::vector<pyproc_spike> spikes_;
    int32_t published_state_ = -1;
    uint32_t applied_host_fields_ = 0;
    int reserved_[kSampleSlots] = {};  // per slot: 0 not tried, 1 reserved, -1 could not be
    int64_t last_post_ns_ = 0;
    int64_t gap_ns_ = 0;  // 0: no rhythm known
    int64_t jitter_ns_ = 0;  // the gaps' mean deviation from gap_ns_: the spin starts 3 of them early
    int64_t oversleep_ns_ = 0;  // how late a timed sleep ends, on average: the spin starts 2 of them early
    std::chrono::steady_clock::time_point last_publish_{};
};

}  // namespace

int main(int argc, char** argv) {
    const Arguments arguments = parse(argc, argv);
#if defined(__linux__)
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);  // timed sleeps end on time: the rhythm's spin starts when planned
#endif
    leave_with_parent(arguments.parent);
    follow_audio_priority(0);  // loading runs at the normal priority, whatever the thread that started us had
    std::unique_ptr<SharedMemory> memory;
    try {
        memory = SharedMemory::open(arguments.memory_name, arguments.memory_bytes);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "pyproc-worker: %s\n", error.what());
        return 2;
    }
    memory->forget_name();  // mapped on both sides now: nothing is left behind if either dies
    auto& shared = *static_cast<SharedHeader*>(memory->data());
    if (shared.magic != kMagic || shared.layout_version != kLayoutVersion) {
        std::fprintf(stderr, "pyproc-worker: the shared memory is of another layout (a mismatched install?)\n");
        return 2;
    }
    Worker worker(*memory, shared, arguments.parent);
    try {
        const auto& engine = loader::load_engine(std::filesystem::u8path(arguments.python_home), {std::filesystem::u8path(arguments.engine_dir)});
        char problem[1024] = {0};
        if (engine.api->become_worker(arguments.fault_report.c_str(), problem, sizeof problem) != 0)
            throw std::runtime_error(std::string("the engine could not prepare the worker: ") + problem);
        worker.use_engine(engine.api);
    } catch (const std::exception& error) {
        worker.fail_to_start(std::string("the worker could not start Python: ") + error.what());
    }
    worker.serve();
}
