// pyproc-host: runs PyProcessor modules through the loader and engine, exactly
// as the GUI plugin does, on synthetic or recorded data. The command line is in options.cpp, the
// chain of instances in chain.cpp, the blocks' loop in run_loop.cpp and the summaries in summary.cpp.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "chain.h"
#include "engine_text.h"
#include "isolated_engine.h"
#include "loader.h"
#include "options.h"
#include "run_loop.h"
#include "streams.h"
#include "summary.h"

#if defined(_WIN32)
#include <io.h>
#define dup _dup
#define dup2 _dup2
#define fileno _fileno
#else
#include <unistd.h>
#endif

namespace pyproc::host {

using common::JsonValue;
namespace {

using common::engine_text;

// With --json, Python's print() must not corrupt the summary: fd 1 goes to
// stderr, and the summary to a duplicate of the original stdout.
FILE* reserve_stdout_for_json() {
    std::fflush(stdout);
    const int saved = dup(fileno(stdout));
    dup2(fileno(stderr), fileno(stdout));
    return fdopen(saved, "w");
}

// A module stuck in a loop cannot be interrupted from outside Python, so the
// host gives up on the whole process instead of hanging.
void start_watchdog(int seconds) {
    std::thread([seconds] {
        std::this_thread::sleep_for(std::chrono::seconds(seconds));
        std::fprintf(stderr, "pyproc-host: the run did not finish within %d s (is a module stuck in a loop?)\n", seconds);
        std::fflush(stderr);
        std::_Exit(kExitTimeout);
    }).detach();
}

int run_host(const Options& options) {
    if (options.timeout_seconds > 0) start_watchdog(options.timeout_seconds);
    std::unique_ptr<Source> source = open_source(options.input, options.block_size);
    std::unique_ptr<RecordingWriter> writer;
    if (!options.output.empty()) writer = std::make_unique<RecordingWriter>(options.output, source->info());
    const loader::LoadedEngine& engine = loader::load_engine(options.python_home, options.engine_dirs);
    FILE* json_out = options.json ? reserve_stdout_for_json() : nullptr;

    const std::string recording_dir = writer ? writer->recording_dir().u8string() : "";
    const pyproc_engine_api& api = options.isolated ? *isolation::isolated_api(engine) : *engine.api;
    Chain chain(api, options, source->info(), writer.get());
    const RunTotals totals = run(chain, *source, options, recording_dir);
    chain.finish_published();
    if (writer) writer->finish();

    if (json_out) {
        const JsonValue summary = summary_json(engine, chain, source->info(), totals, recording_dir, options.isolated);
        std::fprintf(json_out, "%s\n", summary.dump().c_str());
        std::fclose(json_out);
    } else {
        print_summary(engine, chain, source->info(), totals, recording_dir, options.isolated);
    }
    for (const auto& node : chain.nodes()) {
        const pyproc_state state = api.state(node.instance);
        if (state != PYPROC_READY && state != PYPROC_NO_MODULE) {
            std::cerr << "pyproc-host: node " << node.node_id << " " << state_name(state) << ": "
                      << headline(state, engine_text(api.error_text, node.instance)) << "\n";
            return kExitModuleErrored;
        }
    }
    return 0;
}

}  // namespace
}  // namespace pyproc::host

int main(int argc, char** argv) {
    using namespace pyproc::host;
    try {
        return run_host(parse(argc, argv));
    } catch (const UsageError& error) {
        std::cerr << "pyproc-host: " << error.what() << "\n" << kUsage;
        return kExitUsage;
    } catch (const pyproc::loader::HomeError& error) {
        std::cerr << "pyproc-host: " << error.what() << "\n";
        return kExitPythonHome;
    } catch (const std::exception& error) {
        std::cerr << "pyproc-host: " << error.what() << "\n";
        return kExitUsage;
    }
}
