// What a run reports on stdout: the --json summary (read by oe-pyproc; its keys are listed in
// README.md) or the text one, and the one line on stderr that says why a module failed.
#pragma once

#include <string>

#include "chain.h"
#include "json.h"
#include "loader.h"
#include "run_loop.h"
#include "streams.h"

namespace pyproc::host {

// OUTPUT: the recording folder, "" without --output.
common::JsonValue summary_json(const loader::LoadedEngine& engine, const Chain& chain, const StreamInfo& stream,
                       const RunTotals& totals, const std::string& output, bool isolated);
void print_summary(const loader::LoadedEngine& engine, const Chain& chain, const StreamInfo& stream,
                   const RunTotals& totals, const std::string& output, bool isolated);

// The line that says what happened: a traceback's last, a crash's or a stuck module's first.
std::string headline(pyproc_state state, const std::string& error);

}  // namespace pyproc::host
