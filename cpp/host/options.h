// pyproc-host's command line: the options, their parsing and the exit statuses it promises.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace pyproc::host {

constexpr int kExitModuleErrored = 1;
constexpr int kExitUsage = 2;
constexpr int kExitPythonHome = 3;
constexpr int kExitTimeout = 4;

// Printed by --help, and after a usage error.
extern const char* const kUsage;
constexpr const char* kDefaultInput = "synthetic:channels=16,rate=30000,seconds=1,block=1024";

// Bad arguments, or a --param a module refused: the run stops with kExitUsage and the usage text.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Options {
    std::filesystem::path python_home;
    std::vector<std::string> scripts;
    int instances_per_script = 1;
    std::string input = kDefaultInput;
    std::filesystem::path output;
    int32_t block_size = 1024;
    long reload_at = -1;
    int timeout_seconds = 0;  // 0: none
    std::vector<std::filesystem::path> engine_dirs;
    bool json = false;
    bool progress = false;  // "@progress DONE TOTAL" lines on stderr, for oe-pyproc's progress bar
    bool scattered = false;  // channels not evenly spaced in memory: the engine's copy path
    bool measure_copy = false;  // time copying each block in and out, to compare with the engine
    bool realtime = false;      // each block waits for its wall-clock due time, as a live acquisition would
    bool isolated = false;      // each module in a worker process of its own (cpp/isolation)
    double deadline_ms = 0;     // isolated: how long a buffer waits for its module; 0: until the stuck limit
    double stuck_after_s = 10;  // isolated: a call that has not returned by then makes the module stuck
    std::filesystem::path latency_log;  // one line per process() call: node id and microseconds
    std::vector<std::pair<std::string, std::string>> params;  // module parameters' values before __init__
    struct ParamChange {
        long block;  // before this buffer, counted as --reload-at counts
        std::string name, value;
    };
    std::vector<ParamChange> param_changes;
};

// Throws UsageError; --help prints the usage and exits.
Options parse(int argc, char** argv);

}  // namespace pyproc::host
