// A run: the source's blocks through the chain on an audio thread of the host's, between the
// acquisition and recording calls the GUI makes around them.
#pragma once

#include <cstdint>
#include <string>

#include "chain.h"
#include "options.h"
#include "streams.h"

namespace pyproc::host {

struct RunTotals {
    long blocks = 0;
    int64_t samples = 0;
};

// Starts acquisition and recording (into RECORDING_DIR, "" without --output), processes every block,
// then stops both; rethrows here what failed on the audio thread.
RunTotals run(Chain& chain, Source& source, const Options& options, const std::string& recording_dir);

}  // namespace pyproc::host
