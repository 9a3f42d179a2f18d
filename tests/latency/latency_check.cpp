// Feeds the engine's LatencyStats (cpp/common/latency.h) the microsecond values read from stdin, one
// per line, with a budget of argv[1] us, and prints its summary as JSON: for tests/test_audio_thread.py.
#include <cstdio>
#include <cstdlib>

#include "latency.h"

int main(int argc, char** argv) {
    const double budget = argc > 1 ? std::atof(argv[1]) : 0;
    static pyproc::common::LatencyStats stats;
    double micros = 0;
    while (std::scanf("%lf", &micros) == 1) stats.add(micros, budget);
    const pyproc_latency summary = stats.summary();
    std::printf("{\"calls\": %llu, \"overruns\": %llu, \"p50\": %.9g, \"p99\": %.9g, \"max\": %.9g}\n",
                static_cast<unsigned long long>(summary.calls), static_cast<unsigned long long>(summary.overruns),
                summary.p50_us, summary.p99_us, summary.max_us);
}
