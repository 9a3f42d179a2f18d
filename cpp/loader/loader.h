// Loads libpython and the engine for a Python Home, the way the GUI plugin and
// pyproc-host both do, and starts the interpreter. Nothing links libpython.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "pyproc/engine_api.h"
#include "python_home.h"

namespace pyproc::loader {

struct LoadedEngine {
    const pyproc_engine_api* api = nullptr;
    PythonHome home;
    fs::path engine_path;
    std::string python_version;  // e.g. "3.10.13"
};

// Inspects the home, loads libpython (globally, so C extensions find its
// symbols) and the engine, then starts the interpreter. Once this succeeded in
// a process, only the same home may be asked for again: Python cannot be
// restarted. Throws HomeError with a sentence a user can act on.
const LoadedEngine& load_engine(const fs::path& python_home, const std::vector<fs::path>& engine_dirs);

// The engine loaded in this process, or nullptr.
const LoadedEngine* loaded_engine();

}  // namespace pyproc::loader
