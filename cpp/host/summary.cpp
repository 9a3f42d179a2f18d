#include "summary.h"

#include <cctype>
#include <cmath>
#include <iostream>
#include <sstream>

#include "engine_text.h"

namespace pyproc::host {

using common::JsonValue;

using common::engine_text;

namespace {

// Six significant digits: enough for a person reading latencies and rates in the text summary.
std::string number(double value) {
    std::ostringstream out;
    out.precision(6);
    out << value;
    return out.str();
}

// A rate or latency at full precision (the text summary rounds for a person); JSON has no NaN or infinity.
JsonValue json_number(double value) { return std::isfinite(value) ? JsonValue(value) : JsonValue(); }

JsonValue text_or_null(const std::string& text) { return text.empty() ? JsonValue() : JsonValue(text); }

// {"p50", "p99", "max"} in microseconds; null when there were no calls to measure.
JsonValue latency_json(const pyproc_latency& latency) {
    if (latency.calls == 0) return nullptr;
    JsonValue out;
    out.set("p50", json_number(latency.p50_us));
    out.set("p99", json_number(latency.p99_us));
    out.set("max", json_number(latency.max_us));
    return out;
}

// name -> final value of each declared parameter.
JsonValue parameter_values(const Chain& chain, const Node& node) {
    JsonValue values = JsonValue::Object{};
    const JsonValue reply = chain.parameters(node);
    for (const auto& parameter : reply.array_at("parameters"))
        values.set(parameter.string_at("name"), parameter.at("value"));
    return values;
}

// The node's derived channels: [{"name", "unit", "bit_volts"}].
JsonValue derived_json(const Node& node) {
    JsonValue channels = JsonValue::Array{};
    for (const auto& derived : node.derived) {
        JsonValue channel;
        channel.set("name", derived.name);
        channel.set("unit", derived.unit);
        channel.set("bit_volts", derived.bit_volts);
        channels.push_back(std::move(channel));
    }
    return channels;
}

// The instance's published names with the frames written (counted, without --output), those of
// another shape than the name's first (not written), frames lost, and the folder of the files.
void add_published(JsonValue& instance, const PublishedWriter& published) {
    JsonValue written = JsonValue::Object{};
    JsonValue other_shape = JsonValue::Object{};
    for (const auto& series : published.series()) {
        written.set(series->name, series->written);
        if (series->other_shape) other_shape.set(series->name, series->other_shape);
    }
    instance.set("published", std::move(written));
    instance.set("published_other_shape", std::move(other_shape));
    instance.set("published_lost", published.lost());
    instance.set("published_dir", text_or_null(published.written_folder().u8string()));
}

JsonValue instance_json(const Chain& chain, const Node& node) {
    const pyproc_engine_api& api = chain.api();
    pyproc_latency latency{};
    api.latency(node.instance, &latency);
    JsonValue instance;
    instance.set("script", node.script);
    instance.set("node_id", node.node_id);
    instance.set("state", state_name(api.state(node.instance)));
    instance.set("error", text_or_null(engine_text(api.error_text, node.instance)));
    instance.set("warnings", engine_text(api.warning_text, node.instance));
    instance.set("calls", latency.calls);
    instance.set("overruns", latency.overruns);
    instance.set("late", latency.late);
    instance.set("worker_priority", latency.worker_priority);
    instance.set("latency_us", latency_json(latency));
    instance.set("events_out", node.events_out);
    instance.set("spikes_out", node.spikes_out);
    instance.set("derived", derived_json(node));
    instance.set("parameters", parameter_values(chain, node));
    add_published(instance, *node.published);
    return instance;
}

}  // namespace

JsonValue summary_json(const loader::LoadedEngine& engine, const Chain& chain, const StreamInfo& stream,
                       const RunTotals& totals, const std::string& output, bool isolated) {
    JsonValue input;
    input.set("stream", stream.name);
    input.set("channels", stream.num_channels());
    input.set("sample_rate", json_number(stream.sample_rate));
    input.set("samples", totals.samples);
    input.set("blocks", totals.blocks);
    JsonValue summary;
    summary.set("python_home", engine.home.root.u8string());
    summary.set("python_home_kind", engine.home.kind_name());
    summary.set("python_version", engine.python_version);
    summary.set("engine", engine.engine_path.u8string());
    summary.set("mode", isolated ? "isolated" : "in-process");
    summary.set("input", std::move(input));
    summary.set("output", text_or_null(output));
    summary.set("copy_in_out_us", latency_json(chain.copy_cost().summary()));
    JsonValue& instances = summary.set("instances", JsonValue::Array{});
    for (const auto& node : chain.nodes()) instances.push_back(instance_json(chain, node));
    return summary;
}

void print_summary(const loader::LoadedEngine& engine, const Chain& chain, const StreamInfo& stream,
                   const RunTotals& totals, const std::string& output, bool isolated) {
    const pyproc_engine_api& api = chain.api();
    std::cout << "Python " << engine.python_version << " (" << engine.home.kind_name() << " "
              << engine.home.root.u8string() << "), " << (isolated ? "isolated" : "in-process") << "\n"
              << "input: " << stream.name << ", " << stream.num_channels() << " channels at " << stream.sample_rate
              << " Hz, " << totals.samples << " samples in " << totals.blocks << " blocks\n";
    for (const auto& node : chain.nodes()) {
        pyproc_latency latency{};
        api.latency(node.instance, &latency);
        const pyproc_state state = api.state(node.instance);
        std::cout << "node " << node.node_id << " " << node.script << ": "
                  << (state == PYPROC_READY ? std::string("ready") : [&] {
                         std::string upper = state_name(state);
                         for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
                         return upper;
                     }()) << ", "
                  << latency.calls << " calls, latency p50 " << number(latency.p50_us) << " us, p99 "
                  << number(latency.p99_us) << " us, max " << number(latency.max_us) << " us, " << latency.overruns
                  << " over budget, " << (isolated ? std::to_string(latency.late) + " late, " : std::string()) << node.events_out << " events and " << node.spikes_out << " spikes out\n";
        if (!node.derived.empty()) {
            std::cout << "  derived channels:";
            const char* separator = " ";
            for (const auto& derived : node.derived) {
                std::cout << separator << derived.name << (derived.unit.empty() ? "" : " (" + derived.unit + ")");
                separator = ", ";
            }
            std::cout << "\n";
        }
        if (!node.published->series().empty()) {
            std::cout << "  published:";
            const char* separator = " ";
            for (const auto& series : node.published->series()) {
                std::cout << separator << series->name << " (" << series->written;
                separator = ", ";
                if (series->other_shape) std::cout << ", " << series->other_shape << " of another shape not written";
                std::cout << ")";
            }
            if (node.published->lost()) std::cout << "; " << node.published->lost() << " frames lost";
            if (!node.published->written_folder().empty())
                std::cout << " in " << node.published->written_folder().u8string();
            std::cout << "\n";
        }
        const std::string warnings = engine_text(api.warning_text, node.instance);
        if (!warnings.empty()) std::cout << "  warning: " << warnings << "\n";
        if (state != PYPROC_READY && state != PYPROC_NO_MODULE) std::cout << engine_text(api.error_text, node.instance) << "\n";
    }
    if (!output.empty()) std::cout << "recording written to " << output << "\n";
}

std::string headline(pyproc_state state, const std::string& error) {
    if (state != PYPROC_ERRORED) return error.substr(0, error.find('\n'));
    const auto end = error.find_last_not_of("\n");
    const auto start = error.rfind('\n', end);
    return error.substr(start == std::string::npos ? 0 : start + 1);
}

}  // namespace pyproc::host
