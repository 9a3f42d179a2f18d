// Per-instance latency of each buffer's engine call, against the buffer's real-time duration.
//
// Recording a call costs the same after an hour as after a second: one bucket of a fixed log-scale
// histogram is incremented, nothing is sorted or allocated. Percentiles are read from the buckets
// where nobody waits (the GUI's status timer, the host's summary), from any thread: the counters are
// atomics written by the one thread that records.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>

#include "pyproc/engine_api.h"

namespace pyproc::common {

class LatencyStats {
public:
    // Percentiles cover the recent calls only (between kWindow / 2 and kWindow of them), so they follow
    // the live state: two half-window histograms, the older cleared when the newer fills.
    static constexpr uint64_t kWindow = 16384;
    // 16 buckets per octave (a value is reported within 3.2% of the truth) from 1/16 us up to 2^26 us
    // (67 s); faster calls count in the first bucket, slower in the last.
    static constexpr int kBucketsPerOctave = 16;
    static constexpr int kLowestExponent = -4;
    static constexpr int kOctaves = 30;
    static constexpr size_t kBuckets = static_cast<size_t>(kOctaves * kBucketsPerOctave);

    void add(double micros, double budget_micros) {
        const uint64_t calls = calls_.load(std::memory_order_relaxed);
        Histogram& current = halves_[(calls / (kWindow / 2)) % 2];
        if (calls % (kWindow / 2) == 0 && calls > 0) current.clear();  // the oldest half leaves the window
        bump(current.counts[bucket_of(micros)]);
        if (micros > max_.load(std::memory_order_relaxed)) max_.store(micros, std::memory_order_relaxed);
        if (budget_micros > 0 && micros > budget_micros) bump(overruns_);
        calls_.store(calls + 1, std::memory_order_release);
    }

    // Sums 2 x kBuckets counters: for the status timer and summaries, not for the recording thread.
    pyproc_latency summary() const {
        pyproc_latency out{};
        out.calls = calls_.load(std::memory_order_acquire);
        out.overruns = overruns_.load(std::memory_order_relaxed);
        out.max_us = max_.load(std::memory_order_relaxed);
        std::array<uint64_t, kBuckets> counts{};
        uint64_t total = 0;
        for (const Histogram& half : halves_)
            for (size_t i = 0; i < kBuckets; ++i) {
                counts[i] += half.counts[i].load(std::memory_order_relaxed);
                total += half.counts[i].load(std::memory_order_relaxed);
            }
        if (total == 0) return out;
        out.p50_us = std::min(percentile(counts, total, 0.50), out.max_us);
        out.p99_us = std::min(percentile(counts, total, 0.99), out.max_us);
        return out;
    }

    // The bucket a call of MICROS falls in; public for the tests of its edges.
    static size_t bucket_of(double micros) {
        if (!(micros > 0)) return 0;
        int exponent = 0;
        const double mantissa = std::frexp(micros, &exponent);  // micros = mantissa * 2^exponent, mantissa in [0.5, 1)
        const long octave = static_cast<long>(exponent) - 1 - kLowestExponent;
        if (octave < 0) return 0;
        if (octave >= kOctaves) return kBuckets - 1;
        const auto step = static_cast<long>((mantissa - 0.5) * 2 * kBucketsPerOctave);
        return static_cast<size_t>(octave * kBucketsPerOctave + std::min<long>(step, kBucketsPerOctave - 1));
    }

    // The geometric middle of a bucket: what a call counted in it is reported as.
    static double bucket_value(size_t bucket) {
        const double octave = static_cast<double>(bucket / kBucketsPerOctave) + kLowestExponent;
        const double low = 1.0 + static_cast<double>(bucket % kBucketsPerOctave) / kBucketsPerOctave;
        const double high = low + 1.0 / kBucketsPerOctave;
        return std::sqrt(low * high) * std::exp2(octave);
    }

private:
    struct Histogram {
        std::array<std::atomic<uint32_t>, kBuckets> counts{};
        void clear() {
            for (auto& count : counts) count.store(0, std::memory_order_relaxed);
        }
    };

    // One writer: a load and a store, no locked read-modify-write.
    template <class Counter> static void bump(Counter& counter) {
        counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }

    static double percentile(const std::array<uint64_t, kBuckets>& counts, uint64_t total, double q) {
        const auto rank = static_cast<uint64_t>(q * static_cast<double>(total - 1) + 0.5);
        uint64_t seen = 0;
        for (size_t i = 0; i < kBuckets; ++i) {
            seen += counts[i];
            if (seen > rank) return bucket_value(i);
        }
        return bucket_value(kBuckets - 1);
    }

    std::array<Histogram, 2> halves_{};
    std::atomic<uint64_t> calls_{0};
    std::atomic<uint64_t> overruns_{0};
    std::atomic<double> max_{0};
};

}  // namespace pyproc::common
