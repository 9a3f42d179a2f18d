#include "shared_memory.h"

#include "shared_layout.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <random>
#include <stdexcept>

#if defined(_WIN32)
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#else
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#elif defined(__APPLE__)
// The compare-and-wait primitive libc++ and the Swift runtime use; declared here as they declare it.
extern "C" int __ulock_wait(uint32_t operation, void* address, uint64_t value, uint32_t timeout_us);
extern "C" int __ulock_wake(uint32_t operation, void* address, uint64_t wake_value);
#define PYPROC_UL_COMPARE_AND_WAIT_SHARED 3
#endif
#endif

namespace pyproc::isolation {

int32_t current_cpu() {
#if defined(__linux__)
    return sched_getcpu();
#else
    return -1;
#endif
}

namespace {

// The process, a counter and a random tag: a name left behind by a process that died before its worker
// mapped it (its pid reused since) is never asked for again. macOS allows 31 characters.
std::string unique_name() {
    static std::atomic<unsigned> counter{0};
#if defined(_WIN32)
    const unsigned long process = GetCurrentProcessId();
#else
    const unsigned long process = static_cast<unsigned long>(getpid());
#endif
    static std::mt19937 random{std::random_device{}()};
    static std::mutex random_mutex;
    char tag[9];
    {
        std::lock_guard<std::mutex> lock(random_mutex);
        std::snprintf(tag, sizeof tag, "%08x", static_cast<unsigned>(random()));
    }
    return "/oepp-" + std::to_string(process) + "-" + std::to_string(counter.fetch_add(1)) + "-" + tag;
}

#if defined(_WIN32)
std::wstring windows_name(const std::string& name, const char* suffix) {
    const std::string full = "Local\\" + name.substr(1) + suffix;
    return std::wstring(full.begin(), full.end());  // ASCII: built from numbers above
}

std::string windows_error(const std::string& what) {
    return what + " (Windows error " + std::to_string(GetLastError()) + ")";
}
#endif

}  // namespace

#if defined(_WIN32)

std::unique_ptr<SharedMemory> SharedMemory::create(size_t bytes) {
    std::unique_ptr<SharedMemory> memory(new SharedMemory);
    memory->name_ = unique_name();
    memory->bytes_ = bytes;
    memory->mapping_ = CreateFileMappingW(INVALID_HANDLE_VALUE, nullptr, PAGE_READWRITE,
                                          static_cast<DWORD>(static_cast<unsigned long long>(bytes) >> 32),
                                          static_cast<DWORD>(bytes & 0xffffffffu),
                                          windows_name(memory->name_, "").c_str());
    if (!memory->mapping_) throw std::runtime_error(windows_error("cannot make shared memory for the worker"));
    memory->data_ = MapViewOfFile(memory->mapping_, FILE_MAP_ALL_ACCESS, 0, 0, bytes);
    memory->events_[0] = CreateEventW(nullptr, FALSE, FALSE, windows_name(memory->name_, "-worker").c_str());
    memory->events_[1] = CreateEventW(nullptr, FALSE, FALSE, windows_name(memory->name_, "-client").c_str());
    if (!memory->data_ || !memory->events_[0] || !memory->events_[1])
        throw std::runtime_error(windows_error("cannot map the worker's memory"));
    return memory;
}

std::unique_ptr<SharedMemory> SharedMemory::open(const std::string& name, size_t bytes) {
    std::unique_ptr<SharedMemory> memory(new SharedMemory);
    memory->name_ = name;
    memory->bytes_ = bytes;
    memory->mapping_ = OpenFileMappingW(FILE_MAP_ALL_ACCESS, FALSE, windows_name(name, "").c_str());
    if (!memory->mapping_) throw std::runtime_error(windows_error("cannot open the shared memory " + name));
    memory->data_ = MapViewOfFile(memory->mapping_, FILE_MAP_ALL_ACCESS, 0, 0, bytes);
    memory->events_[0] = OpenEventW(EVENT_MODIFY_STATE | SYNCHRONIZE, FALSE, windows_name(name, "-worker").c_str());
    memory->events_[1] = OpenEventW(EVENT_MODIFY_STATE | SYNCHRONIZE, FALSE, windows_name(name, "-client").c_str());
    if (!memory->data_ || !memory->events_[0] || !memory->events_[1])
        throw std::runtime_error(windows_error("cannot map the shared memory " + name));
    return memory;
}

SharedMemory::~SharedMemory() {
    if (data_) UnmapViewOfFile(data_);
    if (mapping_) CloseHandle(mapping_);
    for (void* event : events_)
        if (event) CloseHandle(event);
}

void SharedMemory::forget_name() {}  // a mapping's name goes with its last handle

std::string SharedMemory::reserve(size_t, size_t) { return {}; }  // committed when it was made

void SharedMemory::ring(std::atomic<uint32_t>&, Bell bell) { SetEvent(events_[bell]); }

void SharedMemory::sleep(std::atomic<uint32_t>& word, uint32_t seen, int64_t timeout_us, Bell bell) {
    if (word.load() == seen) WaitForSingleObject(events_[bell], static_cast<DWORD>((timeout_us + 999) / 1000));
}

#else

std::unique_ptr<SharedMemory> SharedMemory::create(size_t bytes) {
    std::unique_ptr<SharedMemory> memory(new SharedMemory);
    memory->bytes_ = bytes;
    int fd = -1;
    for (int attempt = 0; fd < 0 && attempt < 8; ++attempt) {  // a name taken (by chance) gets another
        memory->name_ = unique_name();
        fd = shm_open(memory->name_.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) throw std::runtime_error("cannot make shared memory for the worker: " + std::string(std::strerror(errno)));
    memory->named_ = true;
    if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
        const int error = errno;
        close(fd);
        throw std::runtime_error("cannot size the worker's shared memory to " + std::to_string(bytes) +
                                 " bytes: " + std::strerror(error));
    }
    memory->fd_ = fd;
    void* data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (data == MAP_FAILED) throw std::runtime_error("cannot map the worker's shared memory: " + std::string(std::strerror(errno)));
    memory->data_ = data;
    return memory;
}

std::unique_ptr<SharedMemory> SharedMemory::open(const std::string& name, size_t bytes) {
    std::unique_ptr<SharedMemory> memory(new SharedMemory);
    memory->name_ = name;
    memory->bytes_ = bytes;
    const int fd = shm_open(name.c_str(), O_RDWR, 0600);
    if (fd < 0) throw std::runtime_error("cannot open the shared memory " + name + ": " + std::strerror(errno));
    memory->named_ = true;  // the worker's forget_name() removes it once mapped
    struct stat info {};
    if (fstat(fd, &info) != 0 || static_cast<size_t>(info.st_size) < bytes) {
        close(fd);
        throw std::runtime_error("the shared memory " + name + " is smaller than " + std::to_string(bytes) + " bytes");
    }
    memory->fd_ = fd;
    void* data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (data == MAP_FAILED) throw std::runtime_error("cannot map the shared memory " + name + ": " + std::strerror(errno));
    memory->data_ = data;
    return memory;
}

SharedMemory::~SharedMemory() {
    if (data_) munmap(data_, bytes_);
    if (fd_ >= 0) close(fd_);
    forget_name();
}

std::string SharedMemory::reserve(size_t offset, size_t length) {
#if defined(__linux__)
    const int error = posix_fallocate(fd_, static_cast<off_t>(offset), static_cast<off_t>(length));
    if (error != 0)
        return "cannot reserve " + std::to_string(length / (1024 * 1024) + 1) + " MiB of shared memory (/dev/shm): " +
               std::strerror(error);
#else
    (void)offset;
    (void)length;
#endif
    return {};
}

void SharedMemory::forget_name() {
    if (named_) shm_unlink(name_.c_str());
    named_ = false;
}

#if defined(__linux__)
// Not FUTEX_PRIVATE: the word is shared between processes.
void SharedMemory::ring(std::atomic<uint32_t>& word, Bell) {
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE, 1, nullptr, nullptr, 0);
}

void SharedMemory::sleep(std::atomic<uint32_t>& word, uint32_t seen, int64_t timeout_us, Bell) {
    const timespec timeout{static_cast<time_t>(timeout_us / 1000000), static_cast<long>(timeout_us % 1000000) * 1000L};
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT, seen, &timeout, nullptr, 0);
}
#elif defined(__APPLE__)
void SharedMemory::ring(std::atomic<uint32_t>& word, Bell) {
    __ulock_wake(PYPROC_UL_COMPARE_AND_WAIT_SHARED, reinterpret_cast<void*>(&word), 0);
}

void SharedMemory::sleep(std::atomic<uint32_t>& word, uint32_t seen, int64_t timeout_us, Bell) {
    __ulock_wait(PYPROC_UL_COMPARE_AND_WAIT_SHARED, reinterpret_cast<void*>(&word), seen,
                 static_cast<uint32_t>(std::max<int64_t>(1, timeout_us)));
}
#else
void SharedMemory::ring(std::atomic<uint32_t>&, Bell) {}  // the sleeper polls
void SharedMemory::sleep(std::atomic<uint32_t>& word, uint32_t seen, int64_t, Bell) {
    if (word.load() == seen) usleep(200);
}
#endif

#endif

}  // namespace pyproc::isolation
