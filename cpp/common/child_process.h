// Starting a program from the GUI or the host: the live viewer (`python -m oe_pyproc view --open`, which
// outlives the GUI) and an isolated module's worker (pyproc-worker, which must not). Each runs in a
// session (Windows: a process group) of its own, with no console window, stdin from the null device,
// stdout and stderr into a log file or the caller's, and none of the caller's other files or sockets.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace pyproc::common {

// A started process, until it ended and was reaped.
struct DetachedProcess {
    long long pid = 0;
    void* handle = nullptr;  // Windows: the process handle
};

// Starts args[0] (a full path, UTF-8) with args. log: the file (UTF-8 path) its output is appended to;
// "" to inherit the caller's. endsWithCaller: on Windows the process joins a job object that ends it
// when the caller ends (POSIX workers watch their parent themselves). Returns "" or, when it could
// not be started, why not.
std::string startDetached(const std::vector<std::string>& args, const std::string& log, DetachedProcess* started,
                          bool endsWithCaller = false);

// How a process ended: its exit status, or the signal that ended it (POSIX).
struct ProcessEnd {
    int exitStatus = 0;
    int signal = 0;
    std::string describe() const;  // "exited with status 3", "killed by SIGSEGV (segmentation fault)"
};

// nullopt while the process runs; once it ended, how (and the process is released). Never waits.
std::optional<ProcessEnd> reapEnded(DetachedProcess& process);
// The same as one status: the exit status, or 128 + the signal.
std::optional<int> reapIfEnded(DetachedProcess& process);

// Ends the process at once (SIGKILL, TerminateProcess); it is still to be reaped.
void killProcess(const DetachedProcess& process);
// Asks the process for its Python stacks (SIGUSR1, which the worker's faulthandler answers); false
// where there is no such signal (Windows).
bool requestStacks(const DetachedProcess& process);

// True while a process of this id runs (a zombie counts as running).
bool processAlive(long long pid);

}  // namespace pyproc::common
