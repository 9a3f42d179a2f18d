// What a Python Home folder is, found from its files alone, before anything is
// loaded: kind, version, libpython, standard library, site-packages, engine.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace pyproc::loader {

namespace fs = std::filesystem;

enum class HomeKind { conda_env, venv, installation };

struct PythonHome {
    fs::path root;                      // the folder the user named
    HomeKind kind = HomeKind::installation;
    std::string version;                // "3.10"
    fs::path executable;                // the env's python: program name and sys.executable
    fs::path base;                      // supplies libpython and the standard library (root unless a venv)
    fs::path libpython;
    std::vector<fs::path> site_packages;
    std::vector<fs::path> dll_dirs;     // Windows: folders whose DLLs extension modules need

    // PyConfig.home: empty for a venv, whose pyvenv.cfg leads Python to its base.
    std::string config_home() const;
    std::string kind_name() const;
};

// A Python Home that cannot work, explained in one sentence with the fix.
class HomeError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Throws HomeError when the folder cannot serve as a Python Home.
PythonHome inspect_python_home(const fs::path& root);

// e.g. "libpyproc_engine_cp310.so", "pyproc_engine_cp310.dll".
std::string engine_file_name(const std::string& version);

// The engine built for the home's Python version: inside the home (where
// `pip install` or the conda package put it), else in extra_dirs, in order.
// Throws HomeError naming every folder looked in.
fs::path find_engine(const PythonHome& home, const std::vector<fs::path>& extra_dirs);

}  // namespace pyproc::loader
