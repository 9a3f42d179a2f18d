#include "realtime.h"

#if defined(__linux__)
#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <system_error>
#endif

namespace pyproc::isolation {

#if defined(__linux__)

namespace {

// Fields 40 and 41 of /proc/PID/task/TID/stat: rt_priority and policy. The command name (field 2)
// may hold spaces and parentheses, so the count starts after its last ')'.
int thread_realtime_priority(const std::filesystem::path& stat) {
    std::ifstream file(stat);
    std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    const size_t name_end = text.rfind(')');
    if (name_end == std::string::npos) return 0;
    std::istringstream fields(text.substr(name_end + 1));
    std::string field;
    long priority = 0, policy = 0;
    for (int number = 3; number <= 41 && fields >> field; ++number) {
        if (number == 40) priority = std::strtol(field.c_str(), nullptr, 10);
        if (number == 41) policy = std::strtol(field.c_str(), nullptr, 10);
    }
    return policy == SCHED_FIFO || policy == SCHED_RR ? static_cast<int>(priority) : 0;
}

}  // namespace

int highest_realtime_priority(long long pid) {
    std::error_code error;
    int highest = 0;
    for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", error))
        highest = std::max(highest, thread_realtime_priority(task.path() / "stat"));
    return highest;
}

int follow_audio_priority(int audio_priority) {
    if (audio_priority < 2) {
        sched_param normal{};
        sched_setscheduler(0, SCHED_OTHER, &normal);
        return 0;
    }
    sched_param param{};
    param.sched_priority = audio_priority - 1;
    return sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &param) == 0 ? param.sched_priority : -1;
}

bool run_normally(long long tid) {
    sched_param normal{};
    return sched_setscheduler(static_cast<pid_t>(tid), SCHED_OTHER, &normal) == 0;
}

#else  // macOS (time-constraint threads) and Windows (MMCSS) keep the normal priority: not written yet

int highest_realtime_priority(long long) { return 0; }
int follow_audio_priority(int) { return 0; }
bool run_normally(long long) { return true; }

#endif

}  // namespace pyproc::isolation
