// A memory mapping shared by an isolated instance and its worker, and the doorbell that wakes a
// worker sleeping on a word of it: a futex on Linux, __ulock on macOS, a named event on Windows.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace pyproc::isolation {

class SharedMemory {
public:
    // A new zero-filled mapping of `bytes` under a name unique to this process. Throws
    // std::runtime_error saying why it could not be made.
    static std::unique_ptr<SharedMemory> create(size_t bytes);
    // The worker's side: the mapping the client named. Throws std::runtime_error.
    static std::unique_ptr<SharedMemory> open(const std::string& name, size_t bytes);
    ~SharedMemory();
    SharedMemory(const SharedMemory&) = delete;
    SharedMemory& operator=(const SharedMemory&) = delete;

    void* data() const { return data_; }
    const std::string& name() const { return name_; }
    // POSIX: the name goes once the worker has mapped it, so nothing is left behind if we die.
    void forget_name();
    // Linux: gives these bytes their memory now (posix_fallocate), so that a full /dev/shm fails here
    // and never as SIGBUS when a buffer is written. "" or why not. Elsewhere a mapping has its memory.
    std::string reserve(size_t offset, size_t length);

    // Two doorbells: the worker sleeps on one between requests, the client on the other while its
    // buffer is being processed. On Linux and macOS a bell is the word itself; on Windows an event.
    enum Bell { worker_bell = 0, client_bell = 1 };
    // Wakes whoever sleeps on `word` (after the word was changed).
    void ring(std::atomic<uint32_t>& word, Bell bell);
    // Sleeps while `word` still holds `seen`, at most timeout_us; may return early.
    void sleep(std::atomic<uint32_t>& word, uint32_t seen, int64_t timeout_us, Bell bell);

private:
    SharedMemory() = default;
    std::string name_;
    void* data_ = nullptr;
    size_t bytes_ = 0;
#if defined(_WIN32)
    void* mapping_ = nullptr;               // the file mapping's handle
    void* events_[2] = {nullptr, nullptr};  // the doorbells
#else
    bool named_ = false;  // the name still exists
    int fd_ = -1;         // the shared memory object, for reserve()
#endif
};

}  // namespace pyproc::isolation
