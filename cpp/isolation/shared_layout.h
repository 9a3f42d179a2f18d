// The memory an isolated instance shares with its worker process (pyproc-worker): one mapping per
// instance, made by the client, laid out as below and followed by the channels' samples. Both sides
// are built from this one header; the worker refuses a mapping of another layout version.
//
// Two request slots, each posted by one side and answered by the other: `block` (the audio
// thread's buffers, never waited for past the deadline) and `control` (everything else, from any
// other thread). The worker serves one request at a time, so engine calls never overlap.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "pyproc/engine_api.h"

namespace pyproc::isolation {

inline constexpr uint32_t kMagic = 0x57505950;  // "PYPW"
inline constexpr uint32_t kLayoutVersion = 3;
inline constexpr size_t kNameBytes = 64;        // a TTL channel's or electrode's name, cut at 63 bytes
inline constexpr size_t kCallTextBytes = 4096;  // a recording folder, the host's fields
inline constexpr size_t kMaxQueuedCalls = 16;
inline constexpr size_t kEventCapacity = 4096;  // per buffer, each way
inline constexpr size_t kSpikeCapacity = 1024;
inline constexpr size_t kWaveformFloats = 256 * 1024;
inline constexpr size_t kTextBytes = 64 * 1024;
inline constexpr size_t kShortTextBytes = 16 * 1024;
inline constexpr int32_t kMaxBlockSamples = 8192;  // a longer buffer passes through untouched, with a warning
inline constexpr int32_t kMaxDerived = 1024;       // derived channels per buffer (engine_runtime.MAX_DERIVED)

// Calls that never wait for the module: they go with the next request of either slot, in order.
// set_parameter's text is "name\0value": a value taken before a restarted worker, given to it again.
enum class CallKind : uint32_t {
    start_acquisition,
    stop_acquisition,
    start_recording,
    stop_recording,
    set_parameter
};

struct QueuedCall {
    CallKind kind;
    char text[kCallTextBytes];
};

struct CallQueue {
    uint32_t count;
    QueuedCall calls[kMaxQueuedCalls];
};

// posted != done: the worker has a request to serve. Only the poster changes `posted`, only the
// worker changes `done`.
struct Slot {
    std::atomic<uint32_t> posted;
    std::atomic<uint32_t> done;
};

struct EventRecord {
    int64_t sample_number;
    int32_t source_node;
    uint8_t line;
    uint8_t state;
    char channel_name[kNameBytes];
};

struct SpikeRecord {
    int64_t sample_number;
    int32_t source_node;
    uint16_t sorted_id;
    int32_t num_channels;
    int32_t num_samples;
    uint32_t waveform_offset;  // in floats, into the area's waveforms
    char electrode_name[kNameBytes];
};

// What Python sent: appended by the worker until the client takes it and sets the counts to 0.
struct OutputArea {
    uint32_t num_events;
    uint32_t num_spikes;
    uint32_t waveform_used;
    uint32_t dropped;  // beyond the capacities: never delivered
    pyproc_ttl_event events[kEventCapacity];
    SpikeRecord spikes[kSpikeCapacity];
    float waveforms[kWaveformFloats];
};

struct BlockArea {
    Slot slot;
    std::atomic<uint32_t> client_sleeping;  // nonzero: the answer must wake the client (on slot.done)
    CallQueue calls;
    int64_t posted_at_ns;  // steady clock, both processes' (CLOCK_MONOTONIC, QueryPerformanceCounter)
    int64_t first_sample_number;
    int32_t num_samples;
    int32_t num_channels;  // the samples: channel c at the slot's start + c * num_samples
    uint32_t sample_slot;  // where the client writes the buffer: set by the worker, to memory the module does not hold
    int32_t num_derived;   // derived channels the client has room for; answered: how many the worker filled
    uint32_t num_events;
    uint32_t num_spikes;
    uint32_t waveform_used;
    EventRecord events[kEventCapacity];
    SpikeRecord spikes[kSpikeCapacity];
    float waveforms[kWaveformFloats];
    OutputArea out;
};

enum class Request : uint32_t { create, reload, set_parameter, take_outputs, flush, quit };

struct ControlArea {
    Slot slot;
    CallQueue calls;
    Request request;
    int32_t result;  // set_parameter: 0, or -1 with the refusal in reply
    int32_t num_channels;
    double sample_rate;
    double bit_volts;                // create: the stream's first channel's
    char channel_names[kTextBytes];  // create: the stream's channel names, each NUL-terminated (those that fit)
    char first[kTextBytes];   // create: the script; set_parameter: the name
    char second[kTextBytes];  // create: the parameters' values; set_parameter: the value
    char reply[kTextBytes];
    OutputArea out;
};

// What the worker tells about its instance, rewritten after each request that may change it; a
// seqlock: odd while being written.
struct StatusArea {
    std::atomic<uint32_t> sequence;
    int32_t state;
    char error[kTextBytes];
    char warnings[kShortTextBytes];
    char parameters[kTextBytes];
    char live[kShortTextBytes];
    char derived[kTextBytes];  // derived_channels()
};

struct SharedHeader {
    uint32_t magic;
    uint32_t layout_version;
    uint64_t total_bytes;
    int32_t max_channels;
    int32_t max_samples;
    std::atomic<uint32_t> wake;             // bumped by every post: the worker sleeps on it
    std::atomic<uint32_t> worker_sleeping;  // nonzero: a post must wake the worker
    std::atomic<int32_t> worker_cpu;        // where the worker spins (-1: unknown): the client does not spin there
    std::atomic<int32_t> worker_priority;   // the worker's SCHED_FIFO priority, 0: normal, -1: refused (realtime.h)
    // The host's fields for the live ring (set_host_fields), whenever they change: a seqlock (odd while
    // written); the worker applies them at create and as soon as they change.
    std::atomic<uint32_t> host_fields_version;
    char host_fields[kCallTextBytes];
    BlockArea block;
    ControlArea control;
    StatusArea status;
};

// The samples follow the header in kSampleSlots slots lent to process(), and one more never lent: a
// module may keep a few buffers' `data` without the worker copying the next ones, and when it holds
// all of them the next buffer goes into the spare one, which the engine copies (docs/isolation.md).
inline constexpr uint32_t kSampleSlots = 3;
inline constexpr uint32_t kSpareSlot = kSampleSlots;
inline constexpr size_t kSamplesOffset = (sizeof(SharedHeader) + 4095) / 4096 * 4096;

inline size_t slot_floats(int32_t max_channels, int32_t max_samples) {
    return (static_cast<size_t>(max_channels) * static_cast<size_t>(max_samples) + 1023) / 1024 * 1024;
}

// After the slots, the derived channels' samples of the buffer in flight: channel k at k * max_samples,
// reserved by the worker as a module's declarations need them.
inline size_t derived_offset(int32_t max_channels, int32_t max_samples) {
    return kSamplesOffset + sizeof(float) * (kSampleSlots + 1) * slot_floats(max_channels, max_samples);
}

inline size_t shared_bytes(int32_t max_channels, int32_t max_samples) {
    return derived_offset(max_channels, max_samples) + sizeof(float) * static_cast<size_t>(kMaxDerived) * max_samples;
}

inline float* derived_samples(SharedHeader* header, int32_t channel) {
    return reinterpret_cast<float*>(reinterpret_cast<char*>(header) + derived_offset(header->max_channels, header->max_samples)) +
           static_cast<size_t>(channel) * static_cast<size_t>(header->max_samples);
}

inline size_t slot_offset(int32_t max_channels, int32_t max_samples, uint32_t slot) {
    return kSamplesOffset + sizeof(float) * std::min(slot, kSpareSlot) * slot_floats(max_channels, max_samples);
}

inline float* shared_samples(SharedHeader* header, uint32_t slot) {
    return reinterpret_cast<float*>(reinterpret_cast<char*>(header) + kSamplesOffset) +
           std::min(slot, kSpareSlot) * slot_floats(header->max_channels, header->max_samples);
}

static_assert(std::atomic<uint32_t>::is_always_lock_free, "the slots are shared between processes");

// The CPU this thread runs on, -1 where that cannot be known cheaply (Linux: a vDSO call, no system call).
int32_t current_cpu();

}  // namespace pyproc::isolation
