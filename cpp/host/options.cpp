#include "options.h"

#include <cstdlib>
#include <iostream>

#include "shared_layout.h"

namespace pyproc::host {

namespace fs = std::filesystem;

const char* const kUsage =
    "usage: pyproc-host --python-home DIR --script FILE [--script FILE...] [--instances N]\n"
    "                   [--input SOURCE] [--output DIR] [--block B] [--reload-at BLOCK] [--timeout S]\n"
    "                   [--engine-dir DIR...] [--json] [--progress] [--scattered-channels] [--measure-copy]\n"
    "                   [--latency-log FILE] [--param NAME=VALUE...] [--param-at BLOCK:NAME=VALUE...] [--realtime]\n"
    "                   [--isolated | --in-process] [--deadline-ms MS] [--stuck-after S]\n"
    "SOURCE: synthetic:channels=C,rate=HZ,seconds=S,block=B[,seed=N] or an Open Ephys binary recording folder\n"
    "exit status: 0 ok, 1 a module errored, 2 bad arguments or input, 3 unusable Python Home,\n"
    "             4 the run took longer than --timeout\n";

namespace {

std::pair<std::string, std::string> name_and_value(const std::string& flag, const std::string& text) {
    const auto equals = text.find('=');
    if (equals == std::string::npos || equals == 0)
        throw UsageError(flag + " needs NAME=VALUE, got '" + text + "'");
    return {text.substr(0, equals), text.substr(equals + 1)};
}

int positive(const std::string& flag, const std::string& value) {
    try {
        size_t used = 0;
        const long number = std::stol(value, &used);
        if (used == value.size() && number > 0 && number < (1L << 30)) return static_cast<int>(number);
    } catch (const std::exception&) {
    }
    throw UsageError(flag + " needs a positive whole number, got '" + value + "'");
}

// A positive duration (milliseconds or seconds, as the flag says), at most a day.
double seconds_or_ms(const std::string& flag, const std::string& value) {
    try {
        size_t used = 0;
        const double number = std::stod(value, &used);
        if (used == value.size() && number > 0 && number <= 86400e3) return number;
    } catch (const std::exception&) {
    }
    throw UsageError(flag + " needs a positive number, got '" + value + "'");
}

}  // namespace

Options parse(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        if (flag == "--help" || flag == "-h") {
            std::cout << kUsage;
            std::exit(0);
        }
        if (flag == "--isolated" || flag == "--in-process") {
            options.isolated = flag == "--isolated";
            continue;
        }
        if (flag == "--json" || flag == "--progress" || flag == "--scattered-channels" || flag == "--measure-copy" ||
            flag == "--realtime") {
            (flag == "--json"           ? options.json
             : flag == "--progress"     ? options.progress
             : flag == "--measure-copy" ? options.measure_copy
             : flag == "--realtime"     ? options.realtime
                                        : options.scattered) = true;
            continue;
        }
        if (i + 1 >= argc) throw UsageError(flag == "--python-home" || flag == "--script" || flag == "--input"
                                                ? flag + " needs a value"
                                                : "unknown option '" + flag + "'");
        const std::string value = argv[++i];
        if (flag == "--python-home") options.python_home = fs::u8path(value);
        else if (flag == "--script") options.scripts.push_back(value);
        else if (flag == "--instances") options.instances_per_script = positive(flag, value);
        else if (flag == "--input") options.input = value;
        else if (flag == "--output") options.output = fs::u8path(value);
        else if (flag == "--block") options.block_size = positive(flag, value);
        else if (flag == "--reload-at") options.reload_at = positive(flag, value);
        else if (flag == "--timeout") options.timeout_seconds = positive(flag, value);
        else if (flag == "--engine-dir") options.engine_dirs.push_back(fs::u8path(value));
        else if (flag == "--latency-log") options.latency_log = fs::u8path(value);
        else if (flag == "--deadline-ms") options.deadline_ms = seconds_or_ms(flag, value);
        else if (flag == "--stuck-after") options.stuck_after_s = seconds_or_ms(flag, value);
        else if (flag == "--param") options.params.push_back(name_and_value(flag, value));
        else if (flag == "--param-at") {
            const auto colon = value.find(':');
            if (colon == std::string::npos) throw UsageError("--param-at needs BLOCK:NAME=VALUE, got '" + value + "'");
            const auto [name, text] = name_and_value(flag, value.substr(colon + 1));
            options.param_changes.push_back({positive(flag, value.substr(0, colon)), name, text});
        }
        else throw UsageError("unknown option '" + flag + "'");
    }
    if (options.isolated && options.block_size > isolation::kMaxBlockSamples)
        throw UsageError("--isolated takes blocks of at most " + std::to_string(isolation::kMaxBlockSamples) + " samples");
    if (options.python_home.empty()) throw UsageError("--python-home is required");
    if (options.scripts.empty()) throw UsageError("--script is required");
    return options;
}

}  // namespace pyproc::host
