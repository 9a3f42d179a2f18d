// Ring files: where they live, creating, mapping and removing them (never on the audio thread).
#include "live_ring.h"

#include <functional>

#include <cerrno>
#include <cstdlib>

#if defined(_WIN32)
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace pyproc::live {

namespace {

std::string environment(const char* name) {
    const char* value = std::getenv(name);
    return value ? value : "";
}

#if defined(_WIN32)
uint64_t process_id() { return GetCurrentProcessId(); }
#else
uint64_t process_id() { return static_cast<uint64_t>(getpid()); }
#endif

}  // namespace

std::string live_dir_rule(const std::string& platform, const std::function<std::string(const char*)>& variable,
                          uint64_t uid, bool dev_shm) {
    if (!variable("OE_PYPROC_LIVE_DIR").empty()) return variable("OE_PYPROC_LIVE_DIR");
    if (platform == "win32") {
        std::string temp = variable("TEMP");
        if (temp.empty()) temp = variable("TMP");
        return (temp.empty() ? std::string("C:\\Windows\\Temp") : temp) + "\\oe-pyproc-live";
    }
    const std::string user = std::to_string(uid);
    if (platform.rfind("linux", 0) == 0 && dev_shm) return "/dev/shm/oe-pyproc-live-" + user;
    std::string temp = variable("TMPDIR");
    while (!temp.empty() && temp.back() == '/') temp.pop_back();
    return (temp.empty() ? std::string("/tmp") : temp) + "/oe-pyproc-live-" + user;
}

std::string live_dir() {
#if defined(_WIN32)
    return live_dir_rule("win32", environment, 0, false);
#else
#if defined(__linux__)
    struct stat info {};
    const bool dev_shm = stat("/dev/shm", &info) == 0 && S_ISDIR(info.st_mode);
    const char* platform = "linux";
#else
    const bool dev_shm = false;
    const char* platform = "darwin";
#endif
    return live_dir_rule(platform, environment, getuid(), dev_shm);
#endif
}

uint64_t configured_capacity() {
    const std::string text = environment("OE_PYPROC_LIVE_MB");
    char* end = nullptr;
    const double megabytes = text.empty() ? 4.0 : std::strtod(text.c_str(), &end);
    const bool usable = text.empty() || (end && *end == '\0' && megabytes >= 0.0625 && megabytes <= 1024.0);
    return align8(static_cast<uint64_t>((usable ? megabytes : 4.0) * 1024.0 * 1024.0));
}

#if defined(_WIN32)

RingFile::RingFile(uint64_t instance_id, uint64_t data_capacity) {
    const Layout layout(data_capacity);
    const std::string folder = live_dir();
    CreateDirectoryA(folder.c_str(), nullptr);
    path_ = folder + "\\" + std::to_string(process_id()) + "-" + std::to_string(instance_id) + ".oelive";
    file_ = CreateFileA(path_.c_str(), GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                        nullptr, CREATE_ALWAYS, FILE_ATTRIBUTE_TEMPORARY, nullptr);
    if (file_ == INVALID_HANDLE_VALUE) {
        file_ = nullptr;
        error_ = "cannot create " + path_ + " (error " + std::to_string(GetLastError()) + ")";
        return;
    }
    bytes_ = layout.file_bytes();
    mapping_ = CreateFileMappingA(file_, nullptr, PAGE_READWRITE, static_cast<DWORD>(bytes_ >> 32),
                                  static_cast<DWORD>(bytes_ & 0xffffffffu), nullptr);
    void* base = mapping_ ? MapViewOfFile(mapping_, FILE_MAP_ALL_ACCESS, 0, 0, bytes_) : nullptr;
    if (!base) {
        error_ = "cannot map " + path_ + " (error " + std::to_string(GetLastError()) + ")";
        return;
    }
    std::memset(base, 0, bytes_);
    ring_ = Ring(static_cast<uint8_t*>(base));
    ring_.initialize(layout, process_id(), instance_id);
}

RingFile::~RingFile() {
    if (ring_.valid()) {
        ring_.header().ended.store(1, std::memory_order_release);
        UnmapViewOfFile(&ring_.header());
    }
    if (mapping_) CloseHandle(mapping_);
    if (file_) CloseHandle(file_);
    if (!path_.empty()) DeleteFileA(path_.c_str());
}

uint8_t* RingFile::map_existing(const std::string& path, uint64_t* bytes, std::string* error) {
    HANDLE file = CreateFileA(path.c_str(), GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                              nullptr, OPEN_EXISTING, 0, nullptr);
    if (file == INVALID_HANDLE_VALUE) {
        *error = "cannot open " + path;
        return nullptr;
    }
    LARGE_INTEGER size{};
    GetFileSizeEx(file, &size);
    *bytes = static_cast<uint64_t>(size.QuadPart);
    HANDLE mapping = CreateFileMappingA(file, nullptr, PAGE_READWRITE, 0, 0, nullptr);
    void* base = mapping ? MapViewOfFile(mapping, FILE_MAP_ALL_ACCESS, 0, 0, 0) : nullptr;
    if (mapping) CloseHandle(mapping);
    CloseHandle(file);
    if (!base) *error = "cannot map " + path;
    return static_cast<uint8_t*>(base);
}

void RingFile::unmap(uint8_t* base, uint64_t) { UnmapViewOfFile(base); }

#else

RingFile::RingFile(uint64_t instance_id, uint64_t data_capacity) {
    const Layout layout(data_capacity);
    const std::string folder = live_dir();
    if (mkdir(folder.c_str(), 0700) != 0 && errno != EEXIST) {
        error_ = "cannot create the folder " + folder + ": " + std::strerror(errno);
        return;
    }
    path_ = folder + "/" + std::to_string(process_id()) + "-" + std::to_string(instance_id) + ".oelive";
    const int fd = open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        error_ = "cannot create " + path_ + ": " + std::strerror(errno);
        path_.clear();
        return;
    }
    bytes_ = layout.file_bytes();
    // Reserve the blocks now: a full tmpfs must fail here, not as SIGBUS on the audio thread.
#if defined(__linux__)
    const int reserved = posix_fallocate(fd, 0, static_cast<off_t>(bytes_));
#else
    const int reserved = ftruncate(fd, static_cast<off_t>(bytes_)) == 0 ? 0 : errno;
#endif
    void* base = reserved == 0 ? mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
    const int failure = reserved != 0 ? reserved : errno;
    close(fd);
    if (base == MAP_FAILED) {
        error_ = "cannot make the live ring " + path_ + " (" + std::to_string(bytes_ >> 20) +
                 " MiB, OE_PYPROC_LIVE_MB): " + std::strerror(failure);
        unlink(path_.c_str());
        path_.clear();
        return;
    }
    std::memset(base, 0, bytes_);  // touches every page: no page fault later
    ring_ = Ring(static_cast<uint8_t*>(base));
    ring_.initialize(layout, process_id(), instance_id);
}

RingFile::~RingFile() {
    if (!ring_.valid()) return;
    ring_.header().ended.store(1, std::memory_order_release);
    unlink(path_.c_str());  // readers keep their mapping; new ones no longer find it
    munmap(&ring_.header(), bytes_);
}

uint8_t* RingFile::map_existing(const std::string& path, uint64_t* bytes, std::string* error) {
    const int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
    struct stat info {};
    if (fd < 0 || fstat(fd, &info) != 0) {
        *error = "cannot open " + path + ": " + std::strerror(errno);
        if (fd >= 0) close(fd);
        return nullptr;
    }
    *bytes = static_cast<uint64_t>(info.st_size);
    void* base = mmap(nullptr, *bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (base == MAP_FAILED) {
        *error = "cannot map " + path + ": " + std::strerror(errno);
        return nullptr;
    }
    return static_cast<uint8_t*>(base);
}

void RingFile::unmap(uint8_t* base, uint64_t bytes) { munmap(base, bytes); }

#endif

}  // namespace pyproc::live
