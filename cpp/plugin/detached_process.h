// Starting a program that outlives the GUI (the live viewer, `python -m oe_pyproc view --open`): in a
// session (Windows: a process group) of its own, with no console window, stdin from the null device,
// stdout and stderr into a log file, and none of the GUI's other files or sockets. No JUCE here.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace pyproc::plugin {

// A started process, until it ended and was reaped.
struct DetachedProcess {
    long long pid = 0;
    void* handle = nullptr;  // Windows: the process handle
};

// Starts args[0] (a full path, UTF-8) with args. log: the file (UTF-8 path) its output is appended to;
// "" to inherit the GUI's. Returns "" or, when it could not be started, why not.
std::string startDetached(const std::vector<std::string>& args, const std::string& log, DetachedProcess* started);

// nullopt while the process runs; once it ended, its exit status (and the process is released).
// Never waits.
std::optional<int> reapIfEnded(DetachedProcess& process);

// True while a process of this id runs (a zombie counts as running).
bool processAlive(long long pid);

}  // namespace pyproc::plugin
