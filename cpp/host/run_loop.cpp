#include "run_loop.h"

#include <chrono>
#include <cstdio>
#include <exception>
#include <thread>

namespace pyproc::host {
namespace {

// Read by oe-pyproc for its progress bar.
void report_progress(int64_t done, int64_t total) {
    std::fprintf(stderr, "@progress %lld %lld\n", static_cast<long long>(done), static_cast<long long>(total));
    std::fflush(stderr);
}

// On the audio thread; --reload-at and --param-at act between two buffers, as the editor does.
void process_blocks(Chain& chain, Source& source, const Options& options, RunTotals& totals) {
    Block& block = chain.block();
    const auto started = std::chrono::steady_clock::now();
    int64_t first_sample = 0;
    while (source.next_block(block)) {
        if (options.realtime) {  // a block is due once its last sample would have been acquired
            if (totals.blocks == 0) first_sample = block.first_sample_number;
            const double due = static_cast<double>(block.first_sample_number + block.num_samples - first_sample) /
                               source.info().sample_rate;
            std::this_thread::sleep_until(
                started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(due)));
        }
        if (totals.blocks + 1 == options.reload_at) chain.reload();
        for (const auto& change : options.param_changes)
            if (totals.blocks + 1 == change.block) chain.set_parameter(change.name, change.value);
        chain.process(block);
        ++totals.blocks;
        totals.samples += block.num_samples;
        if (options.progress && totals.blocks % 16 == 0) report_progress(totals.samples, source.info().num_samples);
    }
    if (options.progress) report_progress(totals.samples, source.info().num_samples);
}

}  // namespace

RunTotals run(Chain& chain, Source& source, const Options& options, const std::string& recording_dir) {
    RunTotals totals;
    chain.call_each(&pyproc_engine_api::start_acquisition);
    chain.start_recording(recording_dir);
    // Buffers are processed on a thread of their own, as the GUI's audio thread
    // does, while everything else runs on this one.
    std::exception_ptr failure;
    std::thread audio([&] {
        try {
            process_blocks(chain, source, options, totals);
        } catch (...) {
            failure = std::current_exception();
        }
    });
    audio.join();
    if (failure) std::rethrow_exception(failure);
    chain.call_each(&pyproc_engine_api::stop_recording);
    chain.call_each(&pyproc_engine_api::stop_acquisition);
    return totals;
}

}  // namespace pyproc::host
