// The live ring of one instance: published values and TTL events in a file mapped into memory,
// which readers in other processes (oe_pyproc.live, the viewer) map too. Layout: docs/live.md.
// The writer holds the GIL (one writer at a time); it never makes a system call, takes a lock or
// allocates: everything is mapped and touched when the ring is created. Readers never block it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace pyproc::live {

// The constants and enums come from the one table of the layout, live_layout.def (live.py reads it too).
#define LIVE_MAGIC(text) \
    inline constexpr char kMagic[8] = {#text[0], #text[1], #text[2], #text[3], #text[4], #text[5], #text[6], #text[7]};
#define LIVE_CONSTANT(type, name, value) inline constexpr type name = value;
#include "live_layout.def"
inline constexpr size_t kMetaBytes = kHeaderBytes - kMetaOffset;

#define LIVE_KIND(name, text, value) name = value,
enum Kind : uint8_t {
#include "live_layout.def"
};
#define LIVE_DTYPE(name, text, value) name = value,
enum Dtype : uint8_t {
#include "live_layout.def"
};
#define LIVE_DIRECTION(name, text, value) name = value,
enum Direction : uint8_t {
#include "live_layout.def"
};

struct Header {
    char magic[8];
    uint32_t layout_version;
    uint32_t index_slots;
    uint64_t pid;
    uint64_t instance_id;
    uint64_t index_offset;
    uint64_t names_offset;
    uint64_t data_offset;
    uint64_t data_capacity;
    std::atomic<uint64_t> frames_written;
    std::atomic<uint64_t> bytes_reserved;
    std::atomic<uint64_t> bytes_committed;
    std::atomic<uint32_t> ended;
    std::atomic<uint32_t> meta_sequence;
    uint32_t meta_length;
};

struct NameEntry {
    std::atomic<uint32_t> used;
    uint32_t kind;
    std::atomic<uint64_t> count;
    std::atomic<int64_t> last_sample_number;
    char name[kNameBytes];
};

struct IndexSlot {
    std::atomic<uint64_t> sequence;
    uint64_t start;
    uint32_t length;
    uint32_t unused;
    uint64_t unused2;
};

struct FrameHeader {
    uint32_t name_index;
    uint8_t kind;
    uint8_t dtype;
    uint8_t ndim;
    uint8_t has_x;
    int64_t sample_number;
    uint32_t shape[2];
    uint64_t sequence;
};
static_assert(std::atomic<uint64_t>::is_always_lock_free, "shared-memory atomics must be lock-free");


// Each field where the table puts it and of its size: the structs cannot drift from the table.
#define LIVE_FIELD(owner, field, offset, bytes, code)                                    \
    static_assert(offsetof(owner, field) == (offset) && sizeof(owner::field) == (bytes), \
                  "live_layout.def: " #owner "::" #field " is not where or as large as the table says");
#define LIVE_STRUCT(owner, bytes) \
    static_assert(sizeof(owner) == (bytes), "live_layout.def: sizeof(" #owner ") is not what the table says");
#include "live_layout.def"
static_assert(sizeof(Header) <= kMetaOffset, "the header's fields end before the meta");
static_assert(sizeof(FrameHeader) == kFrameHeaderBytes, "a frame's payload follows its header");
static_assert(kMaxNameBytes < kNameBytes, "a name and its NUL fit its field");

inline uint64_t align8(uint64_t bytes) { return (bytes + 7) & ~uint64_t{7}; }

// Byte offsets of the parts, for a ring of `capacity` data bytes.
struct Layout {
    uint64_t index_offset = kHeaderBytes;
    uint64_t names_offset = kHeaderBytes + uint64_t{kIndexSlots} * sizeof(IndexSlot);
    uint64_t data_offset = names_offset + uint64_t{kNameSlots} * sizeof(NameEntry);
    uint64_t capacity;
    explicit Layout(uint64_t data_capacity) : capacity(data_capacity) {}
    uint64_t file_bytes() const { return data_offset + capacity; }
};

// Whether a mapping of FILE_BYTES holds a ring a reader may trust: its magic, version, and every offset
// and size exactly what a writer of this layout makes (a reader indexes with them). A torn or hostile
// file is refused here, before any of its offsets is followed.
inline bool usable_header(const uint8_t* base, uint64_t file_bytes) {
    if (file_bytes < kHeaderBytes || std::memcmp(base, kMagic, sizeof kMagic) != 0) return false;
    const Header& h = *reinterpret_cast<const Header*>(base);
    const Layout layout(h.data_capacity);
    return h.layout_version == kLayoutVersion && h.index_slots == kIndexSlots &&
           h.index_offset == layout.index_offset && h.names_offset == layout.names_offset &&
           h.data_offset == layout.data_offset && h.data_capacity >= 4 * kFrameHeaderBytes &&
           h.data_capacity % 8 == 0 && layout.data_offset <= file_bytes &&
           h.data_capacity <= file_bytes - layout.data_offset;
}

// A view of a mapped ring (the memory belongs to whoever mapped it).
class Ring {
public:
    explicit Ring(uint8_t* base = nullptr) : base_(base) {}
    bool valid() const { return base_ != nullptr; }
    Header& header() const { return *reinterpret_cast<Header*>(base_); }
    NameEntry& name(uint32_t index) const {
        return reinterpret_cast<NameEntry*>(base_ + header().names_offset)[index];
    }
    IndexSlot& slot(uint64_t sequence) const {
        return reinterpret_cast<IndexSlot*>(base_ + header().index_offset)[sequence % header().index_slots];
    }
    uint8_t* data() const { return base_ + header().data_offset; }
    uint64_t capacity() const { return header().data_capacity; }
    uint64_t max_frame_bytes() const { return capacity() / 4; }
    bool fits(uint64_t payload_bytes) const { return align8(kFrameHeaderBytes + payload_bytes) <= max_frame_bytes(); }

    // Fills a zeroed mapping's header.
    void initialize(const Layout& layout, uint64_t pid, uint64_t instance_id) const;
    void set_meta(const std::string& json) const;

    // The index of `name`, registering it with `kind`; -1 when the table is full, -2 when the
    // name was registered with another kind (its kind is then in *kind).
    int find_or_add_name(const char* name, size_t length, uint8_t* kind) const;

    // Reserves a frame of payload_bytes after the header and returns where its payload goes;
    // commit() publishes it. Returns nullptr when it does not fit (ask fits() first).
    uint8_t* begin_frame(const FrameHeader& frame, uint64_t payload_bytes);
    void commit();

private:
    uint8_t* base_;
    uint64_t pending_start_ = 0;
    uint64_t pending_length_ = 0;
    FrameHeader* pending_ = nullptr;
};

inline void Ring::initialize(const Layout& layout, uint64_t pid, uint64_t instance_id) const {
    Header& h = header();
    h.layout_version = kLayoutVersion;
    h.index_slots = kIndexSlots;
    h.pid = pid;
    h.instance_id = instance_id;
    h.index_offset = layout.index_offset;
    h.names_offset = layout.names_offset;
    h.data_offset = layout.data_offset;
    h.data_capacity = layout.capacity;
    for (uint64_t k = 0; k < kIndexSlots; ++k) slot(k).sequence.store(kEmpty, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    std::memcpy(h.magic, kMagic, sizeof kMagic);  // last: a reader trusts nothing before the magic
}

inline void Ring::set_meta(const std::string& json) const {
    Header& h = header();
    const size_t length = json.size() < kMetaBytes ? json.size() : kMetaBytes;
    h.meta_sequence.fetch_add(1, std::memory_order_relaxed);  // odd: being rewritten
    std::atomic_thread_fence(std::memory_order_release);
    std::memcpy(base_ + kMetaOffset, json.data(), length);
    h.meta_length = static_cast<uint32_t>(length);
    h.meta_sequence.fetch_add(1, std::memory_order_release);
}

inline int Ring::find_or_add_name(const char* text, size_t length, uint8_t* kind) const {
    for (uint32_t i = 0; i < kNameSlots; ++i) {
        NameEntry& entry = name(i);
        if (!entry.used.load(std::memory_order_acquire)) {
            std::memcpy(entry.name, text, length);
            entry.name[length] = '\0';
            entry.kind = *kind;
            entry.used.store(1, std::memory_order_release);
            return static_cast<int>(i);
        }
        if (std::strncmp(entry.name, text, length) == 0 && entry.name[length] == '\0') {
            if (entry.kind != *kind) {
                *kind = static_cast<uint8_t>(entry.kind);
                return -2;
            }
            return static_cast<int>(i);
        }
    }
    return -1;
}

inline uint8_t* Ring::begin_frame(const FrameHeader& frame, uint64_t payload_bytes) {
    const uint64_t length = align8(kFrameHeaderBytes + payload_bytes);
    if (length > max_frame_bytes()) return nullptr;
    Header& h = header();
    uint64_t start = h.bytes_committed.load(std::memory_order_relaxed);
    const uint64_t offset = start % capacity();
    if (offset + length > capacity()) start += capacity() - offset;  // never split across the end
    h.bytes_reserved.store(start + length, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);  // readers see the reservation before the bytes
    pending_start_ = start;
    pending_length_ = length;
    pending_ = reinterpret_cast<FrameHeader*>(data() + start % capacity());
    std::memcpy(pending_, &frame, sizeof frame);
    pending_->sequence = h.frames_written.load(std::memory_order_relaxed);
    return reinterpret_cast<uint8_t*>(pending_) + kFrameHeaderBytes;
}

inline void Ring::commit() {
    Header& h = header();
    const uint64_t sequence = pending_->sequence;
    IndexSlot& s = slot(sequence);
    s.sequence.store(kEmpty, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    s.start = pending_start_;
    s.length = static_cast<uint32_t>(pending_length_);
    s.sequence.store(sequence, std::memory_order_release);
    if (pending_->name_index != kEventName) {
        NameEntry& entry = name(pending_->name_index);
        entry.last_sample_number.store(pending_->sample_number, std::memory_order_relaxed);
        entry.count.fetch_add(1, std::memory_order_release);
    }
    h.frames_written.store(sequence + 1, std::memory_order_release);
    h.bytes_committed.store(pending_start_ + pending_length_, std::memory_order_release);
    pending_ = nullptr;
}

// Reads frames in order, in the process that writes them or another; a reader that falls behind
// loses the oldest frames, never blocks the writer.
class Reader {
public:
    explicit Reader(Ring ring, bool from_oldest = true) : ring_(ring) {
        const uint64_t written = ring.header().frames_written.load(std::memory_order_acquire);
        next_ = from_oldest ? oldest_intact(written) : written;
    }
    // Copies the next intact frame (header and payload) into *frame; false when there is none yet, or
    // none before frame `before` (a reader that stops at what was written when it began never chases a
    // writer that is faster than it).
    bool next(std::vector<uint8_t>* frame, uint64_t before = ~uint64_t{0}) {
        Header& h = ring_.header();
        for (;;) {
            const uint64_t written = h.frames_written.load(std::memory_order_acquire);
            if (next_ >= written || next_ >= before) return false;
            if (next_ < oldest(written)) {
                lost_ += oldest(written) - next_;
                next_ = oldest(written);
            }
            if (copy(next_, frame)) {
                ++next_;
                return true;
            }
            ++lost_;
            ++next_;
        }
    }
    uint64_t lost() const { return lost_; }
    uint64_t written() const { return ring_.header().frames_written.load(std::memory_order_acquire); }

private:
    uint64_t oldest(uint64_t written) const {
        return written > ring_.header().index_slots ? written - ring_.header().index_slots : 0;
    }
    // The oldest frame whose slot and data are both still there: a reader that starts late has lost
    // nothing yet (oe_pyproc.live's Reader starts there too; tests/test_live.py runs both on one ring).
    uint64_t oldest_intact(uint64_t written) const {
        for (uint64_t sequence = oldest(written); sequence < written; ++sequence) {
            const IndexSlot& s = ring_.slot(sequence);
            if (s.sequence.load(std::memory_order_acquire) == sequence &&
                ring_.header().bytes_reserved.load(std::memory_order_relaxed) - s.start <= ring_.capacity())
                return sequence;
        }
        return written;
    }
    bool copy(uint64_t sequence, std::vector<uint8_t>* frame) const {
        IndexSlot& s = ring_.slot(sequence);
        if (s.sequence.load(std::memory_order_acquire) != sequence) return false;
        const uint64_t start = s.start;
        const uint32_t length = s.length;
        // The slot may be rewritten under us (start of one frame, length of another): never copy
        // outside the data area; the checks below then find the frame torn.
        if (length < kFrameHeaderBytes || length > ring_.max_frame_bytes() ||
            start % ring_.capacity() + length > ring_.capacity())
            return false;
        frame->resize(length);
        std::memcpy(frame->data(), ring_.data() + start % ring_.capacity(), length);
        std::atomic_thread_fence(std::memory_order_acquire);
        return s.sequence.load(std::memory_order_relaxed) == sequence &&
               ring_.header().bytes_reserved.load(std::memory_order_relaxed) - start <= ring_.capacity();
    }

    Ring ring_;
    uint64_t next_ = 0;
    uint64_t lost_ = 0;
};

// The folder of the ring files: docs/live.md's rule, for this process.
std::string live_dir();
// The rule itself, for any PLATFORM (sys.platform's "linux", "darwin", "win32"), environment, user id and
// /dev/shm: oe_pyproc.live.live_dir is the same rule, and both run tests/data/live_dir_cases.json.
std::string live_dir_rule(const std::string& platform, const std::function<std::string(const char*)>& variable,
                          uint64_t uid, bool dev_shm);

// A ring file of this process, created and mapped (all of it touched, so writing never faults to
// the kernel for a page) and removed when destroyed. Empty (ring().valid() false, error() says
// why) when the file cannot be made: the instance runs on, without live values.
class RingFile {
public:
    RingFile(uint64_t instance_id, uint64_t data_capacity);
    ~RingFile();
    RingFile(const RingFile&) = delete;
    RingFile& operator=(const RingFile&) = delete;
    Ring& ring() { return ring_; }
    const std::string& path() const { return path_; }
    const std::string& error() const { return error_; }
    // Maps an existing ring file read-only-in-spirit (a reader in the writer's process).
    static uint8_t* map_existing(const std::string& path, uint64_t* bytes, std::string* error);
    static void unmap(uint8_t* base, uint64_t bytes);

private:
    Ring ring_;
    std::string path_;
    std::string error_;
    uint64_t bytes_ = 0;
#if defined(_WIN32)
    void* file_ = nullptr;
    void* mapping_ = nullptr;
#endif
};

// Data bytes per ring: OE_PYPROC_LIVE_MB MiB (default 4).
uint64_t configured_capacity();

}  // namespace pyproc::live
