#include "child_process.h"

#include <cerrno>
#include <cstring>

#if defined(_WIN32)
#ifndef NOMINMAX
#define NOMINMAX
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#else
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

extern char** environ;
#endif

namespace pyproc::common {

#if defined(_WIN32)

namespace {

std::wstring wide(const std::string& text) {
    if (text.empty()) return {};
    const int length = MultiByteToWideChar(CP_UTF8, 0, text.data(), static_cast<int>(text.size()), nullptr, 0);
    std::wstring result(static_cast<size_t>(length), L'\0');
    MultiByteToWideChar(CP_UTF8, 0, text.data(), static_cast<int>(text.size()), result.data(), length);
    return result;
}

// One argument as CommandLineToArgvW and the C runtime split it again.
void appendQuoted(std::wstring& line, const std::wstring& argument) {
    if (!line.empty()) line += L' ';
    if (!argument.empty() && argument.find_first_of(L" \t\n\v\"") == std::wstring::npos) {
        line += argument;
        return;
    }
    line += L'"';
    for (auto it = argument.begin();; ++it) {
        size_t backslashes = 0;
        while (it != argument.end() && *it == L'\\') {
            ++it;
            ++backslashes;
        }
        if (it == argument.end()) {
            line.append(backslashes * 2, L'\\');
            break;
        }
        if (*it == L'"') line.append(backslashes * 2 + 1, L'\\');
        else line.append(backslashes, L'\\');
        line += *it;
    }
    line += L'"';
}

std::string lastError(const std::string& what) {
    return what + " (Windows error " + std::to_string(GetLastError()) + ")";
}

}  // namespace

std::string startDetached(const std::vector<std::string>& args, const std::string& log, DetachedProcess* started,
                          bool endsWithCaller) {
    if (args.empty()) return "nothing to start";
    std::wstring line;
    for (const auto& argument : args) appendQuoted(line, wide(argument));
    SECURITY_ATTRIBUTES inheritable{sizeof(SECURITY_ATTRIBUTES), nullptr, TRUE};
    HANDLE input = INVALID_HANDLE_VALUE, output = INVALID_HANDLE_VALUE;
    if (!log.empty()) {
        input = CreateFileW(L"NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, &inheritable, OPEN_EXISTING, 0, nullptr);
        output = CreateFileW(wide(log).c_str(), FILE_APPEND_DATA | SYNCHRONIZE,
                             FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, &inheritable, OPEN_ALWAYS,
                             FILE_ATTRIBUTE_NORMAL, nullptr);
        if (input == INVALID_HANDLE_VALUE || output == INVALID_HANDLE_VALUE) {
            const std::string problem = lastError("cannot open " + log);
            if (input != INVALID_HANDLE_VALUE) CloseHandle(input);
            if (output != INVALID_HANDLE_VALUE) CloseHandle(output);
            return problem;
        }
    }
    // Only these two handles are inherited, none of the GUI's others (its sockets are inheritable).
    STARTUPINFOEXW startup{};
    startup.StartupInfo.cb = sizeof startup;
    std::vector<char> attributeMemory;
    HANDLE inherited[2] = {input, output};
    const bool redirect = !log.empty();
    if (redirect) {
        SIZE_T size = 0;
        InitializeProcThreadAttributeList(nullptr, 1, 0, &size);
        attributeMemory.resize(size);
        startup.lpAttributeList = reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(attributeMemory.data());
        if (!InitializeProcThreadAttributeList(startup.lpAttributeList, 1, 0, &size) ||
            !UpdateProcThreadAttribute(startup.lpAttributeList, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, inherited,
                                       sizeof inherited, nullptr, nullptr)) {
            CloseHandle(input);
            CloseHandle(output);
            return lastError("cannot prepare the process attributes");
        }
        startup.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
        startup.StartupInfo.hStdInput = input;
        startup.StartupInfo.hStdOutput = output;
        startup.StartupInfo.hStdError = output;
    }
    PROCESS_INFORMATION info{};
    const DWORD flags = CREATE_NO_WINDOW | CREATE_NEW_PROCESS_GROUP | CREATE_UNICODE_ENVIRONMENT |
                        (redirect ? EXTENDED_STARTUPINFO_PRESENT : 0) | (endsWithCaller ? CREATE_SUSPENDED : 0);
    const BOOL created = CreateProcessW(nullptr, line.data(), nullptr, nullptr, redirect ? TRUE : FALSE, flags, nullptr,
                                        nullptr, &startup.StartupInfo, &info);
    const std::string problem = created ? std::string() : lastError("cannot start " + args[0]);
    if (redirect) {
        DeleteProcThreadAttributeList(startup.lpAttributeList);
        CloseHandle(input);
        CloseHandle(output);
    }
    if (!created) return problem;
    if (endsWithCaller) {
        // One job for all of them, never closed by us: the system closes it when this process ends,
        // and kills what is in it. Started suspended so that it cannot outrun the assignment.
        static HANDLE job = [] {
            HANDLE created = CreateJobObjectW(nullptr, nullptr);
            JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits{};
            limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
            if (created) SetInformationJobObject(created, JobObjectExtendedLimitInformation, &limits, sizeof limits);
            return created;
        }();
        if (job == nullptr || !AssignProcessToJobObject(job, info.hProcess)) {
            const std::string failed = lastError("cannot tie " + args[0] + " to this process's life");
            TerminateProcess(info.hProcess, 1);
            CloseHandle(info.hThread);
            CloseHandle(info.hProcess);
            return failed;
        }
        ResumeThread(info.hThread);
    }
    CloseHandle(info.hThread);
    started->pid = static_cast<long long>(info.dwProcessId);
    started->handle = info.hProcess;
    return {};
}

std::optional<ProcessEnd> reapEnded(DetachedProcess& process) {
    if (process.handle == nullptr) return ProcessEnd{};
    DWORD code = 0;
    if (!GetExitCodeProcess(process.handle, &code) || code == STILL_ACTIVE) {
        if (WaitForSingleObject(process.handle, 0) != WAIT_OBJECT_0) return std::nullopt;
    }
    CloseHandle(process.handle);
    process.handle = nullptr;
    return ProcessEnd{static_cast<int>(code), 0};
}

void killProcess(const DetachedProcess& process) {
    if (process.handle != nullptr) TerminateProcess(process.handle, 137);
}

bool requestStacks(const DetachedProcess&) { return false; }

bool processAlive(long long pid) {
    if (pid <= 0) return false;
    HANDLE handle = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE, FALSE, static_cast<DWORD>(pid));
    if (handle == nullptr) return GetLastError() == ERROR_ACCESS_DENIED;
    const bool running = WaitForSingleObject(handle, 0) == WAIT_TIMEOUT;
    CloseHandle(handle);
    return running;
}

#else

namespace {

#if !defined(__APPLE__)  // macOS closes them with POSIX_SPAWN_CLOEXEC_DEFAULT
// The descriptors open in this process from 3 on: the child closes them all (the GUI's HTTP socket
// must not live on in the viewer). Read before spawning; one opened meanwhile by another thread may
// slip through.
std::vector<int> openDescriptors() {
    std::vector<int> found;
#if defined(__linux__)
    if (DIR* folder = opendir("/proc/self/fd")) {
        const int own = dirfd(folder);
        while (const dirent* entry = readdir(folder)) {
            const int fd = std::atoi(entry->d_name);
            if (fd >= 3 && fd != own) found.push_back(fd);
        }
        closedir(folder);
        return found;
    }
#endif
    const long limit = sysconf(_SC_OPEN_MAX) > 0 && sysconf(_SC_OPEN_MAX) < 65536 ? sysconf(_SC_OPEN_MAX) : 65536;
    for (int fd = 3; fd < limit; ++fd)
        if (fcntl(fd, F_GETFD) != -1) found.push_back(fd);
    return found;
}
#endif

}  // namespace

// posix_spawn, not fork: the GUI's memory is never copied-on-write (a fork would make the audio
// thread take page faults until the child execs), and a failed exec comes back as its error.
std::string startDetached(const std::vector<std::string>& args, const std::string& log, DetachedProcess* started,
                          bool /*endsWithCaller: the worker watches its parent*/) {
    if (args.empty()) return "nothing to start";
    std::vector<char*> argv;
    for (const auto& argument : args) argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
#if defined(POSIX_SPAWN_SETSID)
    flags |= POSIX_SPAWN_SETSID;  // its own session: the GUI's terminal and process group signals miss it
#endif
#if defined(__APPLE__)
    flags |= POSIX_SPAWN_CLOEXEC_DEFAULT;  // only the descriptors named below are inherited
#endif
    posix_spawnattr_setflags(&attributes, flags);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setsigdefault(&attributes, &all);  // the GUI's signal handlers are not the viewer's
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (!log.empty()) {
        posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        posix_spawn_file_actions_adddup2(&actions, 1, 2);
    }
#if !defined(__APPLE__)
    for (const int fd : openDescriptors()) posix_spawn_file_actions_addclose(&actions, fd);
#endif
    pid_t pid = 0;
    const int error = posix_spawn(&pid, argv[0], &actions, &attributes, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    if (error != 0) return "cannot start " + args[0] + ": " + std::strerror(error);
    started->pid = pid;
    return {};
}

std::optional<ProcessEnd> reapEnded(DetachedProcess& process) {
    if (process.pid <= 0) return ProcessEnd{};
    int status = 0;
    const pid_t reaped = waitpid(static_cast<pid_t>(process.pid), &status, WNOHANG);
    if (reaped == 0) return std::nullopt;
    process.pid = 0;
    if (reaped < 0) return ProcessEnd{};  // reaped by someone else: its status is unknown
    if (WIFSIGNALED(status)) return ProcessEnd{0, WTERMSIG(status)};
    return ProcessEnd{WIFEXITED(status) ? WEXITSTATUS(status) : 0, 0};
}

void killProcess(const DetachedProcess& process) {
    if (process.pid > 0) kill(static_cast<pid_t>(process.pid), SIGKILL);
}

bool requestStacks(const DetachedProcess& process) {
    return process.pid > 0 && kill(static_cast<pid_t>(process.pid), SIGUSR1) == 0;
}

bool processAlive(long long pid) {
    if (pid <= 0) return false;
    return kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

#endif

std::optional<int> reapIfEnded(DetachedProcess& process) {
    const auto end = reapEnded(process);
    if (!end) return std::nullopt;
    return end->signal ? 128 + end->signal : end->exitStatus;
}

std::string ProcessEnd::describe() const {
    if (signal == 0) return "exited with status " + std::to_string(exitStatus);
#if defined(_WIN32)
    return "ended by signal " + std::to_string(signal);
#else
    static const std::pair<int, const char*> names[] = {{SIGSEGV, "SIGSEGV"}, {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},
                                                        {SIGFPE, "SIGFPE"},   {SIGILL, "SIGILL"},   {SIGKILL, "SIGKILL"},
                                                        {SIGTERM, "SIGTERM"}, {SIGINT, "SIGINT"},   {SIGHUP, "SIGHUP"},
                                                        {SIGPIPE, "SIGPIPE"}};
    std::string name = "signal " + std::to_string(signal);
    for (const auto& [number, known] : names)
        if (number == signal) name = known;
    const char* meaning = strsignal(signal);
    return "killed by " + name + (meaning ? std::string(" (") + meaning + ")" : std::string()) +
           (signal == SIGKILL ? ": from outside, or by the system when memory ran out" : "");
#endif
}

}  // namespace pyproc::common
