// The "synthetic:" source: a reproducible tetrode-like recording with an 8 Hz
// oscillation, gaussian noise, spikes and two TTL lines.
//
// Every sample is a pure function of (seed, channel, sample index): noise comes
// from a counter-based hash and the spike times are drawn once at
// construction. Any stretch of signal can therefore be recomputed, which is how
// spike waveforms that straddle block boundaries are cut out exactly.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <locale>
#include <random>
#include <sstream>
#include <stdexcept>

#include "streams.h"

namespace pyproc::host {

std::unique_ptr<Source> make_synthetic_source(const std::string& spec);

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kBitVolts = 0.195;
constexpr int32_t kSourceNodeId = 100;
constexpr int kChannelsPerTetrode = 4;
constexpr double kOscillationHz = 8.0;
constexpr double kOscillationUv = 50.0;
constexpr double kNoiseUv = 10.0;
constexpr double kSpikePeakUv = -150.0;
constexpr double kSpikesPerSecond = 5.0;  // per tetrode
constexpr double kRefractorySeconds = 0.002;
constexpr int32_t kWaveformSamples = 40;
constexpr int32_t kPrePeakSamples = 10;   // the window starts this many samples before the peak
constexpr int32_t kPostPeakSamples = kWaveformSamples - kPrePeakSamples;

struct SyntheticSpec {
    int32_t channels = 16;
    double rate = 30000;
    double seconds = 1;
    int32_t block = 1024;
    uint64_t seed = 1;
};

[[noreturn]] void bad_value(const std::string& key, const std::string& value, const std::string& allowed) {
    throw std::runtime_error("synthetic source: " + key + " must be " + allowed + ", got '" + value + "'");
}

int64_t parse_integer(const std::string& key, const std::string& value, int64_t min, int64_t max) {
    int64_t parsed = 0;
    auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), parsed);
    if (error != std::errc() || end != value.data() + value.size() || parsed < min || parsed > max)
        bad_value(key, value, "a whole number from " + std::to_string(min) + " to " + std::to_string(max));
    return parsed;
}

// A number in [MIN, MAX]: bounded, so that no count derived from it overflows.
double parse_number(const std::string& key, const std::string& value, double min, double max) {
    std::istringstream in(value);
    in.imbue(std::locale::classic());
    double parsed = 0;
    if (!(in >> parsed) || !in.eof() || !std::isfinite(parsed) || parsed < min || parsed > max) {
        std::ostringstream range;
        range.imbue(std::locale::classic());
        range << "a number from " << min << " to " << max;
        bad_value(key, value, range.str());
    }
    return parsed;
}

uint64_t parse_seed(const std::string& value) {
    uint64_t parsed = 0;
    auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), parsed);
    if (error != std::errc() || end != value.data() + value.size())
        bad_value("seed", value, "a non-negative whole number");
    return parsed;
}

std::string trim(const std::string& s) {
    const size_t first = s.find_first_not_of(" \t");
    if (first == std::string::npos) return "";
    return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

// "synthetic:channels=C,rate=HZ,seconds=S,block=B,seed=N", every key optional.
SyntheticSpec parse_spec(const std::string& spec) {
    SyntheticSpec result;
    const size_t colon = spec.find(':');
    std::istringstream items(colon == std::string::npos ? "" : spec.substr(colon + 1));
    std::string item;
    while (std::getline(items, item, ',')) {
        item = trim(item);
        if (item.empty()) continue;
        const size_t equals = item.find('=');
        if (equals == std::string::npos)
            throw std::runtime_error("synthetic source: '" + item +
                                     "' is not key=value; allowed keys are channels, rate, seconds, block and seed");
        const std::string key = trim(item.substr(0, equals));
        const std::string value = trim(item.substr(equals + 1));
        if (key == "channels") result.channels = static_cast<int32_t>(parse_integer(key, value, 1, 4096));
        else if (key == "rate") result.rate = parse_number(key, value, 1, 1e6);  // Hz: any acquisition system
        else if (key == "seconds") result.seconds = parse_number(key, value, 1e-6, 1e7);  // up to 115 days
        else if (key == "block") result.block = static_cast<int32_t>(parse_integer(key, value, 1, 1 << 24));
        else if (key == "seed") result.seed = parse_seed(value);
        else
            throw std::runtime_error("synthetic source: unknown key '" + key +
                                     "'; allowed keys are channels, rate, seconds, block and seed");
    }
    return result;
}

uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// 53 random bits as a double in (0, 1], so its logarithm is finite.
double unit_interval(uint64_t bits) {
    return static_cast<double>((bits >> 11) + 1) * (1.0 / 9007199254740992.0);
}

// A standard normal value determined only by (seed, channel, index): the
// counter is hashed in stages so that nearby keys give unrelated streams.
double gaussian_noise(uint64_t seed, int32_t channel, int64_t index) {
    const uint64_t key = splitmix64(splitmix64(splitmix64(seed) ^ static_cast<uint64_t>(channel)) ^
                                    static_cast<uint64_t>(index));
    const double u1 = unit_interval(key);
    const double u2 = unit_interval(splitmix64(key));
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * kPi * u2);  // Box-Muller
}

float quantize(double microvolts) {
    const double steps = std::clamp(std::nearbyint(microvolts / kBitVolts), -32768.0, 32767.0);
    return static_cast<float>(steps * kBitVolts);
}

struct InsertedSpike {
    int64_t peak = 0;   // sample index of the trough
    double scale = 1;   // per-spike amplitude jitter
};

struct Tetrode {
    std::string name;
    int32_t first_channel = 0;
    int32_t num_channels = 0;
    std::vector<double> gains;            // per channel, 1.0 on the closest channel
    std::vector<InsertedSpike> spikes;    // sorted by peak, windows never overlap
};

// One periodic TTL edge train, e.g. line 0 rising once per second.
struct EdgeTrain {
    double offset_seconds;
    double period_seconds;
    uint8_t line;
    bool state;
};

constexpr EdgeTrain kEdgeTrains[] = {
#define SYNTHETIC_TTL(offset_seconds, period_seconds, line, state) {offset_seconds, period_seconds, line, state},
#include "synthetic_ttl.def"
#undef SYNTHETIC_TTL
};

class SyntheticSource : public Source {
public:
    explicit SyntheticSource(const SyntheticSpec& spec) : spec_(spec) {
        const double total = std::round(spec.seconds * spec.rate);
        if (total < 1 || total > 9e15)
            throw std::runtime_error("synthetic source: seconds x rate must give between 1 and 9e15 samples");
        make_info(static_cast<int64_t>(total));
        make_spike_shape();
        make_tetrodes();
    }

    const StreamInfo& info() const override { return info_; }
    int32_t block_size() const override { return spec_.block; }

    bool next_block(Block& block) override {
        if (next_sample_ >= info_.num_samples) return false;
        const auto count = static_cast<int32_t>(std::min<int64_t>(spec_.block, info_.num_samples - next_sample_));
        block.first_sample_number = next_sample_;
        block.num_samples = count;
        block.stride = spec_.block;
        block.data.assign(static_cast<size_t>(spec_.channels) * spec_.block, 0.0f);
        for (int32_t c = 0; c < spec_.channels; ++c) render(c, next_sample_, count, block.channel(c));
        block.events = ttl_edges_between(next_sample_, next_sample_ + count);
        block.spikes = spikes_starting_between(next_sample_, next_sample_ + count);
        next_sample_ += count;
        return true;
    }

private:
    SyntheticSpec spec_;
    StreamInfo info_;
    std::vector<double> spike_shape_;  // kWaveformSamples values, 1 at kPrePeakSamples; scaled by kSpikePeakUv
    std::vector<Tetrode> tetrodes_;
    int64_t next_sample_ = 0;

    void make_info(int64_t num_samples) {
        info_.name = "synthetic";
        info_.sample_rate = spec_.rate;
        info_.source_node_id = kSourceNodeId;
        info_.source_node_name = "Synthetic Source";
        info_.first_sample_number = 0;
        info_.num_samples = num_samples;
        for (int32_t c = 0; c < spec_.channels; ++c) {
            info_.channel_names.push_back("CH" + std::to_string(c + 1));
            info_.bit_volts.push_back(kBitVolts);
        }
    }

    // A sharp deflection followed by a slower, smaller rebound of the
    // opposite sign; multiplied by the negative kSpikePeakUv it becomes a
    // trough and a positive repolarization bump.
    void make_spike_shape() {
        for (int32_t i = 0; i < kWaveformSamples; ++i) {
            const double t = i - kPrePeakSamples;
            spike_shape_.push_back(std::exp(-t * t / 8.0) - 0.3 * std::exp(-(t - 8) * (t - 8) / 32.0));
        }
    }

    // Uniform in [0, 1) from the generator's raw output, so the draws are the
    // same with every standard library (std:: distributions are not).
    static double uniform(std::mt19937_64& generator) {
        return static_cast<double>(generator() >> 11) * (1.0 / 9007199254740992.0);
    }

    void make_tetrodes() {
        std::mt19937_64 generator(spec_.seed);
        const auto refractory = std::max<int64_t>(kWaveformSamples, std::llround(kRefractorySeconds * spec_.rate));
        const double mean_gap = std::max(0.0, spec_.rate / kSpikesPerSecond - static_cast<double>(refractory));
        for (int32_t first = 0; first < spec_.channels; first += kChannelsPerTetrode) {
            Tetrode tetrode;
            tetrode.name = "Electrode " + std::to_string(tetrodes_.size() + 1);
            tetrode.first_channel = first;
            tetrode.num_channels = std::min(kChannelsPerTetrode, spec_.channels - first);
            for (int32_t k = 0; k < tetrode.num_channels; ++k) tetrode.gains.push_back(0.35 + 0.55 * uniform(generator));
            tetrode.gains[tetrodes_.size() % tetrode.num_channels] = 1.0;
            // Exponential gaps after a refractory period; only spikes whose
            // whole window fits in the recording are inserted.
            int64_t peak = kPrePeakSamples;
            while (true) {
                peak += std::llround(-std::log(1.0 - uniform(generator)) * mean_gap);
                if (peak + kPostPeakSamples > info_.num_samples) break;
                tetrode.spikes.push_back({peak, 0.9 + 0.2 * uniform(generator)});
                peak += refractory;
            }
            tetrodes_.push_back(std::move(tetrode));
        }
    }

    // The quantized signal of CHANNEL for samples [first, first + count).
    // Blocks and spike waveforms both come from here, so they always agree.
    void render(int32_t channel, int64_t first, int32_t count, float* out) const {
        const Tetrode& tetrode = tetrodes_[channel / kChannelsPerTetrode];
        const double gain = kSpikePeakUv * tetrode.gains[channel - tetrode.first_channel];
        const double omega = 2.0 * kPi * kOscillationHz / spec_.rate;
        const double phase = 2.0 * kPi * channel / spec_.channels;
        auto spike = std::lower_bound(tetrode.spikes.begin(), tetrode.spikes.end(), first,
                                      [](const InsertedSpike& s, int64_t index) { return s.peak + kPostPeakSamples <= index; });
        for (int32_t i = 0; i < count; ++i) {
            const int64_t index = first + i;
            double value = kOscillationUv * std::sin(omega * static_cast<double>(index) + phase) +
                           kNoiseUv * gaussian_noise(spec_.seed, channel, index);
            while (spike != tetrode.spikes.end() && spike->peak + kPostPeakSamples <= index) ++spike;
            if (spike != tetrode.spikes.end() && index >= spike->peak - kPrePeakSamples)
                value += gain * spike->scale * spike_shape_[index - spike->peak + kPrePeakSamples];
            out[i] = quantize(value);
        }
    }

    std::vector<TtlEvent> ttl_edges_between(int64_t begin, int64_t end) const {
        std::vector<TtlEvent> events;
        for (const EdgeTrain& train : kEdgeTrains) {
            // Start one period early so rounding to whole samples cannot skip an edge.
            const double begin_seconds = static_cast<double>(begin) / spec_.rate;
            int64_t k = std::max<int64_t>(
                0, static_cast<int64_t>(std::floor((begin_seconds - train.offset_seconds) / train.period_seconds)) - 1);
            for (;; ++k) {
                const double seconds = train.offset_seconds + static_cast<double>(k) * train.period_seconds;
                const int64_t sample = std::llround(seconds * spec_.rate);
                if (sample >= end) break;
                if (sample >= begin) events.push_back({sample, train.line, train.state, kSourceNodeId, "Synthetic TTL"});
            }
        }
        std::sort(events.begin(), events.end(), [](const TtlEvent& a, const TtlEvent& b) {
            return a.sample_number != b.sample_number ? a.sample_number < b.sample_number : a.line < b.line;
        });
        return events;
    }

    // Spikes whose 40-sample window starts in [begin, end).
    std::vector<Spike> spikes_starting_between(int64_t begin, int64_t end) const {
        std::vector<Spike> spikes;
        for (const Tetrode& tetrode : tetrodes_) {
            auto inserted = std::lower_bound(tetrode.spikes.begin(), tetrode.spikes.end(), begin + kPrePeakSamples,
                                             [](const InsertedSpike& s, int64_t peak) { return s.peak < peak; });
            for (; inserted != tetrode.spikes.end() && inserted->peak - kPrePeakSamples < end; ++inserted)
                spikes.push_back(cut_spike(tetrode, inserted->peak - kPrePeakSamples));
        }
        std::stable_sort(spikes.begin(), spikes.end(),
                         [](const Spike& a, const Spike& b) { return a.sample_number < b.sample_number; });
        return spikes;
    }

    Spike cut_spike(const Tetrode& tetrode, int64_t window_start) const {
        Spike spike;
        spike.sample_number = window_start;
        spike.electrode = tetrode.name;
        spike.source_node = kSourceNodeId;
        spike.sorted_id = 0;
        spike.num_channels = tetrode.num_channels;
        spike.num_samples = kWaveformSamples;
        spike.waveform.resize(static_cast<size_t>(tetrode.num_channels) * kWaveformSamples);
        for (int32_t k = 0; k < tetrode.num_channels; ++k)
            render(tetrode.first_channel + k, window_start, kWaveformSamples, spike.waveform.data() + k * kWaveformSamples);
        return spike;
    }
};

}  // namespace

// SPEC is "synthetic:key=value,..."; see parse_spec for the keys.
std::unique_ptr<Source> make_synthetic_source(const std::string& spec) {
    return std::make_unique<SyntheticSource>(parse_spec(spec));
}

}  // namespace pyproc::host
