// Per-instance latency of process() calls, against the buffer's real-time duration.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "engine_api.h"

namespace pyproc::engine {

class LatencyStats {
public:
    // Percentiles cover the most recent calls only, so they follow the live state.
    static constexpr size_t kWindow = 16384;

    void add(double micros, double budget_micros) {
        recent_[calls_ % kWindow] = micros;
        ++calls_;
        max_ = std::max(max_, micros);
        if (budget_micros > 0 && micros > budget_micros) ++overruns_;
    }

    pyproc_latency summary() const {
        pyproc_latency out{};
        out.calls = calls_;
        out.overruns = overruns_;
        out.max_us = max_;
        const size_t n = static_cast<size_t>(std::min<uint64_t>(calls_, kWindow));
        if (n == 0) return out;
        std::vector<double> sorted(recent_.begin(), recent_.begin() + n);
        out.p50_us = percentile(sorted, 0.50);
        out.p99_us = percentile(sorted, 0.99);
        return out;
    }

private:
    static double percentile(std::vector<double>& values, double q) {
        const size_t rank = static_cast<size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
        std::nth_element(values.begin(), values.begin() + rank, values.end());
        return values[rank];
    }

    std::array<double, kWindow> recent_{};
    uint64_t calls_ = 0;
    uint64_t overruns_ = 0;
    double max_ = 0;
};

}  // namespace pyproc::engine
