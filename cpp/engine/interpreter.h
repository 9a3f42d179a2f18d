// The process's one interpreter: started once from a Python Home, never finalized.
#pragma once

#include <pybind11/eval.h>
#include <pybind11/pybind11.h>

#include <string>

#include "pyproc/engine_api.h"

namespace pyproc::engine {

namespace py = pybind11;

// Starts the interpreter (or checks that it runs from the same home).
// Returns an empty string on success, else the reason.
std::string start_interpreter(const pyproc_start_options& options);
bool interpreter_started();
// Why the interpreter cannot run modules (numpy missing...), "" when it can.
const std::string& interpreter_problem();

// The engine's Python helpers (runtime.py); call with the GIL held.
py::module_& runtime();

// Holds the GIL for the current thread for its lifetime. Each thread keeps one
// thread state, so threading.local data survives between calls, and nested
// entries on one thread are no-ops.
class GilEntry {
public:
    GilEntry();
    ~GilEntry();
    GilEntry(const GilEntry&) = delete;
    GilEntry& operator=(const GilEntry&) = delete;

private:
    bool owner_ = false;
};

}  // namespace pyproc::engine
