// Isolated mode: the engine's own table (engine_api.h), with every instance run by a worker process
// of its own (pyproc-worker, beside the engine), fed through shared memory. The GUI plugin and
// pyproc-host use it exactly as they use the engine; what differs is what a misbehaving module can
// do to them. run_block waits for the worker up to the deadline, then lets the buffer pass
// untouched (late); a worker that dies makes the instance PYPROC_CRASHED, one that does not answer
// for the stuck limit PYPROC_STUCK, each with the cause and the Python stacks in error_text; reload
// starts a new worker where the old one cannot go on. See docs/isolation.md.
#pragma once

#include <filesystem>

#include <loader.h>

namespace pyproc::isolation {

namespace fs = std::filesystem;

// The isolated table for the engine this process loaded (its worker loads the same one, from the
// same Python Home).
const pyproc_engine_api* isolated_api(const loader::LoadedEngine& engine);

// Where the worker program is expected for an engine: beside it (PYPROC_WORKER overrides).
fs::path worker_program(const fs::path& engine_path);

}  // namespace pyproc::isolation
