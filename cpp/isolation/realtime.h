#pragma once
// The worker runs the module at the GUI's audio priority (Linux): when the GUI's audio thread is
// real-time (JACK or ALSA with an rtprio limit), a worker left at the normal priority waits behind
// every other thread of the machine, and the audio thread, waiting for it, with it.
// docs/isolation.md, "Priority".

namespace pyproc::isolation {

// The highest SCHED_FIFO / SCHED_RR priority among the threads of process PID (its audio thread's);
// 0 when none is real-time, when it cannot be read, or on a platform without the rule.
int highest_realtime_priority(long long pid);

// This thread to SCHED_FIFO one below AUDIO_PRIORITY (so that the audio thread, waking on our CPU,
// preempts our spin), the threads it starts at the normal priority (SCHED_RESET_ON_FORK): the
// priority it got; 0 when AUDIO_PRIORITY < 2 (the normal priority, as asked); -1 when the system
// refused (no rtprio limit for this user): it stays at the normal priority.
int follow_audio_priority(int audio_priority);

// Thread TID (a worker's main thread: its pid) back to the normal scheduler; false if refused.
bool run_normally(long long tid);

}  // namespace pyproc::isolation
