#include "detached_process.h"

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
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

namespace pyproc::plugin {

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

std::string startDetached(const std::vector<std::string>& args, const std::string& log, DetachedProcess* started) {
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
                        (redirect ? EXTENDED_STARTUPINFO_PRESENT : 0);
    const BOOL created = CreateProcessW(nullptr, line.data(), nullptr, nullptr, redirect ? TRUE : FALSE, flags, nullptr,
                                        nullptr, &startup.StartupInfo, &info);
    const std::string problem = created ? std::string() : lastError("cannot start " + args[0]);
    if (redirect) {
        DeleteProcThreadAttributeList(startup.lpAttributeList);
        CloseHandle(input);
        CloseHandle(output);
    }
    if (!created) return problem;
    CloseHandle(info.hThread);
    started->pid = static_cast<long long>(info.dwProcessId);
    started->handle = info.hProcess;
    return {};
}

std::optional<int> reapIfEnded(DetachedProcess& process) {
    if (process.handle == nullptr) return 0;
    DWORD code = 0;
    if (!GetExitCodeProcess(process.handle, &code) || code == STILL_ACTIVE) {
        if (WaitForSingleObject(process.handle, 0) != WAIT_OBJECT_0) return std::nullopt;
    }
    CloseHandle(process.handle);
    process.handle = nullptr;
    return static_cast<int>(code);
}

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

// In the child, between fork and exec: only async-signal-safe calls.
void closeDescriptorsFrom(int first, int keep, long limit) {
#if defined(__linux__) && defined(SYS_close_range)
    bool closed = keep <= first || syscall(SYS_close_range, static_cast<unsigned>(first), static_cast<unsigned>(keep - 1), 0u) == 0;
    const unsigned rest = static_cast<unsigned>(keep >= first ? keep + 1 : first);
    if (closed && syscall(SYS_close_range, rest, ~0u, 0u) == 0) return;
#endif
    for (int fd = first; fd < limit; ++fd)
        if (fd != keep) close(fd);
}

void setCloseOnExec(int fd) { fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC); }

}  // namespace

std::string startDetached(const std::vector<std::string>& args, const std::string& log, DetachedProcess* started) {
    if (args.empty()) return "nothing to start";
    // Everything the child needs is made before fork: after it, the child of a threaded process may
    // only make async-signal-safe calls.
    std::vector<char*> argv;
    for (const auto& argument : args) argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    const long limit = sysconf(_SC_OPEN_MAX) > 0 && sysconf(_SC_OPEN_MAX) < 65536 ? sysconf(_SC_OPEN_MAX) : 65536;
    const int input = open("/dev/null", O_RDONLY);
    if (input < 0) return std::string("cannot open /dev/null: ") + std::strerror(errno);
    setCloseOnExec(input);
    int output = -1;
    if (!log.empty()) {
        output = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (output < 0) {
            const std::string problem = "cannot open " + log + ": " + std::strerror(errno);
            close(input);
            return problem;
        }
        setCloseOnExec(output);
    }
    // The child reports a failed exec through this pipe; a successful exec closes it (close-on-exec).
    int report[2];
    if (pipe(report) != 0) {
        const std::string problem = std::string("cannot make a pipe: ") + std::strerror(errno);
        close(input);
        if (output >= 0) close(output);
        return problem;
    }
    setCloseOnExec(report[0]);
    setCloseOnExec(report[1]);
    const pid_t pid = fork();
    if (pid == 0) {
        setsid();  // its own session: the GUI's terminal and process group signals do not reach it
        dup2(input, 0);
        if (output >= 0) {
            dup2(output, 1);
            dup2(output, 2);
        }
        closeDescriptorsFrom(3, report[1], limit);
        execv(argv[0], argv.data());
        const int error = errno;
        ssize_t written = write(report[1], &error, sizeof error);
        (void) written;
        _exit(127);
    }
    const int forkError = errno;
    close(report[1]);
    close(input);
    if (output >= 0) close(output);
    if (pid < 0) {
        close(report[0]);
        return std::string("cannot start a process: ") + std::strerror(forkError);
    }
    int execError = 0;
    ssize_t got;
    do got = read(report[0], &execError, sizeof execError);
    while (got < 0 && errno == EINTR);
    close(report[0]);
    if (got == static_cast<ssize_t>(sizeof execError)) {
        int status = 0;
        waitpid(pid, &status, 0);
        return "cannot start " + args[0] + ": " + std::strerror(execError);
    }
    started->pid = pid;
    return {};
}

std::optional<int> reapIfEnded(DetachedProcess& process) {
    if (process.pid <= 0) return 0;
    int status = 0;
    const pid_t reaped = waitpid(static_cast<pid_t>(process.pid), &status, WNOHANG);
    if (reaped == 0) return std::nullopt;
    process.pid = 0;
    if (reaped < 0) return 0;  // reaped by someone else: its status is unknown
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

bool processAlive(long long pid) {
    if (pid <= 0) return false;
    return kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

#endif

}  // namespace pyproc::plugin
