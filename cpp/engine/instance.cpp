#include "instance.h"

#include <atomic>
#include <chrono>
#include <cstring>

#include "json_escape.h"

#include "interpreter.h"

namespace pyproc::engine {

namespace {

std::atomic<int> next_instance_id{1};

// The base object of numpy's view on the caller's memory: it owns nothing,
// it only stops pybind11 from copying.
py::capsule borrowed_memory() {
    static int tag = 0;
    return py::capsule(&tag, "oe_pyproc.borrowed", [](PyObject*) {});
}

bool evenly_spaced(float* const* channels, int32_t num_channels, int32_t num_samples, ptrdiff_t* stride) {
    *stride = num_channels > 1 ? channels[1] - channels[0] : num_samples;
    if (*stride < num_samples) return false;
    for (int32_t c = 1; c < num_channels; ++c)
        if (channels[c] - channels[0] != *stride * c) return false;
    return true;
}

int64_t as_integer(const py::object& value, const char* name) {
    if (PyFloat_Check(value.ptr()) || !PyIndex_Check(value.ptr()))
        throw py::type_error(std::string(name) + " must be an integer, got " +
                             runtime().attr("describe")(value).cast<std::string>());
    return py::int_(py::reinterpret_steal<py::object>(PyNumber_Index(value.ptr()))).cast<int64_t>();
}

int64_t in_range(const py::object& value, const char* name, int64_t low, int64_t high) {
    const int64_t number = as_integer(value, name);
    if (number < low || number > high)
        throw py::value_error(std::string(name) + " must be " + std::to_string(low) + "-" +
                              std::to_string(high) + ", got " + std::to_string(number));
    return number;
}

std::string shape_text(const py::array& array) {
    std::string text = "(";
    for (py::ssize_t i = 0; i < array.ndim(); ++i)
        text += (i ? ", " : "") + std::to_string(array.shape(i));
    return text + (array.ndim() == 1 ? ",)" : ")");
}

}  // namespace

Instance::Instance(std::string script_path, int32_t num_channels, double sample_rate,
                   const std::string& parameter_values)
    : id_(next_instance_id++),
      script_path_(std::move(script_path)),
      num_channels_(num_channels),
      sample_rate_(sample_rate) {
    handle_ = py::cast(ProcessorHandle{this});
    ring_file_ = std::make_unique<live::RingFile>(static_cast<uint64_t>(id_), live::configured_capacity());
    write_meta(py::dict());
    parameter_set_ = py::none();
    if (!parameter_values.empty()) {
        try {
            given_values_ = py::module_::import("json").attr("loads")(parameter_values);
        } catch (const std::exception& error) {  // not JSON, or JSON but not an object
            warn_once("the parameter values given are not a JSON object: " + std::string(error.what()));
        }
    }
    if (!script_path_.empty()) load();
}

Instance::~Instance() {
    if (handle_) handle_.cast<ProcessorHandle&>().instance = nullptr;
    release_python_objects();
    handle_ = py::object();
}

void Instance::release_python_objects() {
    process_fn_ = py::object();
    if (!parameter_set_.is_none()) {  // a reload keeps the values of parameters that still exist
        apply_parameter_changes_without_callbacks();
        given_values_ = parameter_set_.attr("values")();
    }
    parameter_set_ = py::none();
    processor_ = py::object();
    module_ = py::object();
    runtime().attr("unload")(id_);
}

void Instance::load() {
    state_ = PYPROC_READY;  // so guarded() runs; fail() turns it errored
    {
        std::lock_guard<std::mutex> lock(text_mutex_);
        error_.clear();
    }
    guarded("loading " + script_path_, [&] {
        module_ = runtime().attr("load_script")(script_path_, id_);
        if (!py::hasattr(module_, "PyProcessor"))
            throw py::value_error("the script defines no class PyProcessor: " + script_path_);
    });
    if (state_ != PYPROC_READY) return;
    load_parameters();
    if (state_ != PYPROC_READY) return;
    guarded("PyProcessor.__init__", [&] {
        processor_ = module_.attr("PyProcessor")(handle_, num_channels_, sample_rate_);
        if (!py::hasattr(processor_, "process"))
            throw py::value_error("PyProcessor has no process(self, data) method");
        process_fn_ = processor_.attr("process");
        fresh_data_ = py::bool_(py::getattr(processor_, "fresh_data", py::bool_(false)));
    });
}

void Instance::load_parameters() {
    guarded("reading PyProcessor.parameters", [&] {
        py::list declared = runtime().attr("declared_parameters")(module_.attr("PyProcessor"));
        parameter_set_ = runtime().attr("ParameterSet")(declared, given_values_, num_channels_);
        for (const auto& problem : parameter_set_.attr("problems")) warn_once(problem.cast<std::string>());
    });
}

py::object Instance::params() const {
    if (parameter_set_.is_none()) return runtime().attr("Parameters")(py::list(), py::dict());
    return parameter_set_.attr("params");
}

std::string Instance::parameters_json() {
    if (parameter_set_.is_none()) return kNoParametersJson;
    return parameter_set_.attr("as_json")().cast<std::string>();
}

std::string Instance::set_parameter(const std::string& name, const std::string& value) {
    if (parameter_set_.is_none())
        return script_path_.empty() ? "no script is loaded" : "the module did not load; its parameters are unknown";
    try {
        py::object parsed = py::str(value);
        try {  // JSON (the HTTP API's numbers and booleans), else the text itself
            parsed = py::module_::import("json").attr("loads")(value);
        } catch (const py::error_already_set&) {
        }
        parameter_set_.attr("request")(name, parsed);
    } catch (const py::error_already_set& error) {
        return py::str(error.value()).cast<std::string>();
    }
    changes_pending_ = true;
    return "";
}

void Instance::apply_parameter_changes_without_callbacks() {
    parameter_set_.attr("apply_pending")();
    changes_pending_ = false;
}

void Instance::apply_parameter_changes() {
    changes_pending_ = false;
    py::list changes;
    guarded("applying parameter changes", [&] { changes = parameter_set_.attr("apply_pending")(); });
    if (changes.empty() || !py::hasattr(processor_, "parameter_changed")) return;
    for (const auto& change : changes) {
        const auto pair = change.cast<py::tuple>();
        guarded("parameter_changed()", [&] { processor_.attr("parameter_changed")(pair[0], pair[1]); });
    }
}

pyproc_state Instance::reload() {
    if (script_path_.empty()) return state_;
    release_python_objects();
    copy_buffers_ = false;
    first_call_ = true;
    state_ = PYPROC_READY;
    guarded("reloading helper modules", [&] { runtime().attr("forget_helpers")(script_path_); });
    if (state_ == PYPROC_READY) load();
    return state_;
}

template <class Call>
void Instance::guarded(const std::string& where, Call&& call) {
    if (state_ != PYPROC_READY) return;
    try {
        call();
    } catch (const py::error_already_set& error) {
        fail(where, error);
    } catch (const std::exception& error) {
        fail(where, error.what());
    }
}

void Instance::fail(const std::string& where, const py::error_already_set& error) {
    std::string text;
    try {
        text = runtime().attr("format_exception")(error.type(), error.value(), error.trace()).cast<std::string>();
    } catch (...) {
        text = error.what();
    }
    fail(where, text);
}

void Instance::fail(const std::string& where, const std::string& message) {
    std::lock_guard<std::mutex> lock(text_mutex_);
    error_ = "Error in " + where + ":\n" + message;
    state_ = PYPROC_ERRORED;
}

void Instance::warn_once(const std::string& warning) {
    std::lock_guard<std::mutex> lock(text_mutex_);
    if (warnings_.find(warning) != std::string::npos) return;
    warnings_ += (warnings_.empty() ? "" : "\n") + warning;
}

void Instance::warn_once(bool& warned, const std::string& warning) {
    if (warned) return;
    warned = true;
    warn_once(warning);
}

void Instance::begin_block(int64_t first_sample_number, int32_t num_samples) {
    current_sample_.store(first_sample_number, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(outputs_mutex_);
    block_start_ = first_sample_number;
    block_length_ = num_samples;
}

py::array Instance::wrap(float* const* channels, int32_t num_channels, int32_t num_samples, bool* copied) {
    ptrdiff_t stride = 0;
    *copied = copy_buffers_ || first_call_ || fresh_data_ || !evenly_spaced(channels, num_channels, num_samples, &stride);
    if (!*copied) {
        const std::vector<py::ssize_t> shape{num_channels, num_samples};
        const std::vector<py::ssize_t> strides{static_cast<py::ssize_t>(stride * sizeof(float)), sizeof(float)};
        return py::array_t<float>(shape, strides, channels[0], borrowed_memory());
    }
    py::array_t<float> data({num_channels, num_samples});
    for (int32_t c = 0; c < num_channels; ++c)
        std::memcpy(data.mutable_data(c, 0), channels[c], sizeof(float) * static_cast<size_t>(num_samples));
    return std::move(data);
}

void Instance::take_result(const py::object& result, const py::array& data, float* const* channels,
                           int32_t num_channels, int32_t num_samples) {
    if (result.is_none() || result.is(data)) return;
    // Our extension: an ndarray shaped like data replaces the output. The published plugin ignored
    // return values, so anything else is ignored too, with one warning.
    if (py::isinstance<py::array>(result)) {
        const auto returned = py::reinterpret_borrow<py::array>(result);
        if (returned.ndim() == 2 && returned.shape(0) == num_channels && returned.shape(1) == num_samples) {
            const auto values = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(returned);
            for (int32_t c = 0; c < num_channels; ++c)
                std::memcpy(channels[c], values.data(c, 0), sizeof(float) * static_cast<size_t>(num_samples));
            return;
        }
    }
    warn_once(warned_return_, "process() returned " + runtime().attr("describe_result")(result).cast<std::string>() +
                                  "; it is ignored, as the published plugin ignored it (return None, or an ndarray "
                                  "shaped like data, (" + std::to_string(num_channels) + ", " +
                                  std::to_string(num_samples) + "), to replace the output)");
}

void Instance::process(float* const* channels, int32_t num_channels, int32_t num_samples) {
    if (state_ != PYPROC_READY || num_channels <= 0 || num_samples <= 0) return;
    const auto started = std::chrono::steady_clock::now();
    if (changes_pending_) {  // between buffers, never while process() runs
        apply_parameter_changes();
        if (state_ != PYPROC_READY) return;
    }
    guarded("process()", [&] {
        bool copied = false;
        py::array data = wrap(channels, num_channels, num_samples, &copied);
        const auto* copy = static_cast<const float*>(data.data());  // rows of num_samples when copied
        first_call_ = false;
        py::object result = process_fn_(data);
        if (copied) {
            // From the copy's own memory: a module may have reshaped it (`data.shape = (-1,)`).
            if (data.data() != copy)
                throw py::value_error("process() resized `data`; edit it in place, or return a new array");
            for (int32_t c = 0; c < num_channels; ++c)
                std::memcpy(channels[c], copy + static_cast<size_t>(c) * static_cast<size_t>(num_samples),
                            sizeof(float) * static_cast<size_t>(num_samples));
        }
        take_result(result, data, channels, num_channels, num_samples);
        result = py::object();  // a returned `data` is not a kept one
        if (data.ref_count() > 1 && !copy_buffers_) {
            // The module kept `data` (or a view of it): from now on each buffer is its own copy.
            copy_buffers_ = true;
            if (!copied)  // a view of memory that the next buffer reuses: what it kept shows later data
                warn_once("process() keeps a reference to `data` after returning; buffers are copied from now "
                          "on, but the buffer kept before this was noticed shows later data (keep data.copy())");
            else if (!fresh_data_)  // seen on a copy: nothing was harmed
                warn_once("process() keeps `data` after returning, so each buffer is a fresh copy for it, as in "
                          "the published plugin (keep data.copy() instead to stay copy-free)");
        }
    });
    const double micros = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - started).count();
    latency_.add(micros, sample_rate_ > 0 ? 1e6 * num_samples / sample_rate_ : 0);
}

void Instance::ttl_event(int32_t source_node, const char* channel_name, int64_t sample_number, uint8_t line,
                         uint8_t state) {
    publish_event(sample_number, line, state != 0, 0);
    if (state_ != PYPROC_READY || !py::hasattr(processor_, "handle_ttl_event")) return;
    guarded("handle_ttl_event()", [&] {
        processor_.attr("handle_ttl_event")(source_node, channel_name ? channel_name : "", sample_number, line,
                                            py::bool_(state != 0));  // a bool, as in the published plugin
    });
}

void Instance::spike(const pyproc_spike& spike) {
    if (state_ != PYPROC_READY || !py::hasattr(processor_, "handle_spike")) return;
    guarded("handle_spike()", [&] {
        py::array_t<float> waveform({spike.num_channels, spike.num_samples});
        std::memcpy(waveform.mutable_data(), spike.waveform,
                    sizeof(float) * static_cast<size_t>(spike.num_channels) * static_cast<size_t>(spike.num_samples));
        processor_.attr("handle_spike")(spike.source_node, spike.electrode_name ? spike.electrode_name : "",
                                        spike.num_channels, spike.num_samples, spike.sample_number,
                                        spike.sorted_id, waveform);
    });
}

void Instance::call_optional(const char* method) {
    if (state_ != PYPROC_READY || !py::hasattr(processor_, method)) return;
    guarded(std::string(method) + "()", [&] { processor_.attr(method)(); });
}

void Instance::call_optional(const char* method, const std::string& argument) {
    if (state_ != PYPROC_READY || !py::hasattr(processor_, method)) return;
    guarded(std::string(method) + "()", [&] { processor_.attr(method)(argument); });
}

void Instance::set_acquiring(bool acquiring) {
    std::lock_guard<std::mutex> lock(outputs_mutex_);
    acquiring_ = acquiring;
}

// What pybind11's bool caster, which the published plugin's add_python_event(int, bool) used,
// accepts: True/False, None (False), and any object with a number protocol truth value.
static bool as_state(const py::object& state) {
    PyTypeObject* type = Py_TYPE(state.ptr());
    const bool convertible = PyBool_Check(state.ptr()) || state.is_none() ||
                             (type->tp_as_number && type->tp_as_number->nb_bool);
    if (!convertible)
        throw py::type_error("state must be True/False (or a number or None, read as a bool), got " +
                             runtime().attr("describe")(state).cast<std::string>());
    const int truth = PyObject_IsTrue(state.ptr());
    if (truth < 0) throw py::error_already_set();
    return truth == 1;
}

void Instance::add_python_event(const py::object& line, const py::object& state, const py::object& offset) {
    // Python runs only before the lock: it may hand the GIL to a thread that then waits for the lock.
    const int64_t line_number = as_integer(line, "line");
    const bool on = as_state(state);
    const int64_t sample_offset = as_integer(offset, "sample_offset");
    std::lock_guard<std::mutex> lock(outputs_mutex_);
    const int64_t last = block_length_ > 0 ? block_length_ - 1 : 0;
    if (sample_offset < 0 || sample_offset > last)
        throw py::value_error("sample_offset must be 0-" + std::to_string(last) + ", got " + std::to_string(sample_offset));
    if (!acquiring_) {
        warn_once(warned_not_acquiring_, "add_python_event() while not acquiring (from __init__ or "
                                         "stop_acquisition): dropped, as the published plugin dropped it");
        return;
    }
    if (line_number < 0 || line_number > 255) {
        warn_once(warned_line_, "add_python_event(" + std::to_string(line_number) +
                                    ", ...): line " + std::to_string(line_number) +
                                    " is outside 0-255, so the event was dropped (the published plugin sent "
                                    "it on another line)");
        return;
    }
    pending_.events.push_back({block_start_ + sample_offset, static_cast<uint8_t>(line_number), on ? uint8_t{1} : uint8_t{0}});
    publish_event(block_start_ + sample_offset, static_cast<uint8_t>(line_number), on, 1);
}

void Instance::add_python_spike(const py::object& sample_number, const py::object& waveform,
                                const py::object& sorted_id, const py::object& electrode) {
    const int64_t sample = in_range(sample_number, "sample_number", 0, INT64_MAX);
    const auto sorted = static_cast<uint16_t>(in_range(sorted_id, "sorted_id", 0, 65535));
    if (!py::isinstance<py::str>(electrode))
        throw py::type_error("electrode must be a str, got " + runtime().attr("describe")(electrode).cast<std::string>());
    py::array_t<float, py::array::c_style | py::array::forcecast> values;
    try {
        values = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(waveform);
    } catch (const py::error_already_set&) {
    }
    if (!values)
        throw py::type_error("waveform must be an array of numbers, got " +
                             runtime().attr("describe")(waveform).cast<std::string>());
    if (values.ndim() != 2 || values.shape(0) < 1 || values.shape(1) < 1)
        throw py::value_error("waveform must be 2-D (channels x samples), got shape " + shape_text(values) +
                              "; for one channel use waveform[np.newaxis, :]");
    std::lock_guard<std::mutex> lock(outputs_mutex_);
    SpikeOut& stored = pending_.spike_store.emplace_back();
    stored.electrode = electrode.cast<std::string>();
    stored.waveform.assign(values.data(), values.data() + values.size());
    pending_.spikes.push_back({sample, stored.electrode.c_str(), 0, sorted, static_cast<int32_t>(values.shape(0)),
                               static_cast<int32_t>(values.shape(1)), stored.waveform.data()});
}

pyproc_outputs Instance::take_outputs() {
    std::lock_guard<std::mutex> lock(outputs_mutex_);
    delivered_.clear();
    std::swap(delivered_, pending_);  // deque and vector swaps keep element addresses
    return {delivered_.events.data(), delivered_.events.size(), delivered_.spikes.data(), delivered_.spikes.size()};
}

void Instance::clear_outputs() {
    std::lock_guard<std::mutex> lock(outputs_mutex_);
    delivered_.clear();
}

}  // namespace pyproc::engine

// -- live values (docs/live.md) ------------------------------------------------------------------

namespace pyproc::engine {

namespace {

[[noreturn]] void raise(const py::object& exception) {
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exception.ptr())), exception.ptr());
    throw py::error_already_set();
}

uint8_t kind_code(const std::string& kind) {
    if (kind == "scalar") return live::kScalar;
    if (kind == "curve") return live::kCurve;
    if (kind == "image") return live::kImage;
    return live::kPicture;
}

// The name's UTF-8 (kept by the str object) when the ring takes it as is; else the runtime's check raises.
const char* checked_name(const py::object& name, size_t* length) {
    Py_ssize_t size = 0;
    const char* text = PyUnicode_Check(name.ptr()) ? PyUnicode_AsUTF8AndSize(name.ptr(), &size) : nullptr;
    if (!text || size == 0 || size > 63 || std::memchr(text, '\0', static_cast<size_t>(size))) {
        PyErr_Clear();
        runtime().attr("check_published_name")(name);
        throw py::value_error("publish(): name is not usable");  // not reached: the check raised
    }
    *length = static_cast<size_t>(size);
    return text;
}

}  // namespace

void Instance::write_meta(const py::dict& host_fields) {
    if (!ring_file_->ring().valid()) return;
    py::dict meta;
    meta["program"] = "";
    meta["node_id"] = py::none();
    for (const auto& item : host_fields) meta[item.first] = item.second;
    meta["script"] = script_path_;
    meta["sample_rate"] = sample_rate_;
    meta["num_channels"] = num_channels_;
    meta["instance"] = id_;
    ring_file_->ring().set_meta(py::module_::import("json").attr("dumps")(meta).cast<std::string>());
}

void Instance::describe(const std::string& host_fields_json) {
    py::object fields = py::module_::import("json").attr("loads")(host_fields_json);
    if (!py::isinstance<py::dict>(fields)) throw std::invalid_argument("describe() takes a JSON object");
    write_meta(fields);
}

uint32_t Instance::name_index(const PublishedName& name, uint8_t kind) {
    uint8_t registered = kind;
    const int index = ring_file_->ring().find_or_add_name(name.text, name.length, &registered);
    if (index == -1) raise(runtime().attr("too_many_names_error")(name.object));
    if (index == -2) raise(runtime().attr("kind_change_error")(name.object, registered, kind));
    return static_cast<uint32_t>(index);
}

bool Instance::missing_ring() {
    if (ring_file_->ring().valid()) return false;
    if (!warned_no_ring_) warn_once(warned_no_ring_, "publish(): " + ring_file_->error() + "; nothing is published");
    return true;
}

void Instance::write_frame(const PublishedName& name, uint8_t kind, uint8_t dtype, const FrameShape& shape,
                           const void* values, size_t value_bytes, const void* x, size_t x_bytes) {
    if (missing_ring()) return;
    live::Ring& ring = ring_file_->ring();
    if (!ring.fits(value_bytes + x_bytes))  // before the name is registered, and before anything is written
        raise(runtime().attr("too_large_error")(name.object, value_bytes + x_bytes, ring.max_frame_bytes()));
    live::FrameHeader frame{};
    frame.name_index = name_index(name, kind);
    frame.kind = kind;
    frame.dtype = dtype;
    frame.ndim = shape.ndim;
    frame.has_x = x ? 1 : 0;
    frame.sample_number = current_sample_.load(std::memory_order_relaxed);
    frame.shape[0] = shape.sizes[0];
    frame.shape[1] = shape.sizes[1];
    uint8_t* payload = ring.begin_frame(frame, value_bytes + x_bytes);
    std::memcpy(payload, values, value_bytes);
    if (x) std::memcpy(payload + value_bytes, x, x_bytes);
    ring.commit();
}

void Instance::publish(const py::object& name, const py::object& value, const py::object& x) {
    PublishedName published{name, nullptr, 0};
    published.text = checked_name(name, &published.length);  // refused with or without a ring
    // The common values are copied from here; the runtime normalizes the rest, and says what is wrong.
    py::object values = py::none();  // a number, or a C-contiguous array, once known
    py::object xs = py::none();
    uint8_t kind = live::kScalar;
    if (x.is_none() && (PyFloat_Check(value.ptr()) || PyLong_Check(value.ptr()))) {
        values = value;
    } else if (x.is_none() && py::isinstance<py::array_t<float>>(value)) {
        const auto array = py::reinterpret_borrow<py::array>(value);
        if ((array.ndim() == 1 || array.ndim() == 2) && array.size() > 0 && (array.flags() & py::array::c_style)) {
            values = array;
            kind = array.ndim() == 1 ? live::kCurve : live::kImage;
        }
    }
    if (values.is_none()) {
        const py::tuple normalized = runtime().attr("published_value")(name, value, x);
        kind = kind_code(normalized[0].cast<std::string>());
        values = normalized[1];
        xs = normalized[2];
    }
    if (kind == live::kScalar) {
        const double number = PyFloat_Check(values.ptr()) ? PyFloat_AS_DOUBLE(values.ptr()) : PyLong_AsDouble(values.ptr());
        if (number == -1.0 && PyErr_Occurred()) throw py::error_already_set();
        return write_frame(published, live::kScalar, live::kFloat64, {}, &number, sizeof number, nullptr, 0);
    }
    const auto array = py::reinterpret_borrow<py::array>(values);
    FrameShape shape;
    shape.ndim = static_cast<uint8_t>(array.ndim());
    for (py::ssize_t i = 0; i < array.ndim() && i < 2; ++i) shape.sizes[i] = static_cast<uint32_t>(array.shape(i));
    const uint8_t dtype = kind == live::kPicture ? live::kUint8 : live::kFloat32;
    const py::array x_array = xs.is_none() ? py::array() : xs.cast<py::array>();
    write_frame(published, kind, dtype, shape, array.data(), static_cast<size_t>(array.nbytes()),
                xs.is_none() ? nullptr : x_array.data(), xs.is_none() ? 0 : static_cast<size_t>(x_array.nbytes()));
}

void Instance::publish_event(int64_t sample_number, uint8_t line, bool on, uint8_t direction) {
    live::Ring& ring = ring_file_->ring();
    if (!ring.valid()) return;
    live::FrameHeader frame{};
    frame.name_index = live::kEventName;
    frame.kind = live::kEvent;
    frame.dtype = live::kUint8;
    frame.ndim = 1;
    frame.shape[0] = 3;
    frame.sample_number = sample_number;
    uint8_t* payload = ring.begin_frame(frame, 3);
    payload[0] = line;
    payload[1] = on ? 1 : 0;
    payload[2] = direction;
    ring.commit();
}

std::string Instance::live_status() const {
    std::string json = "{\"path\": " + json_escape(ring_file_->path()) + ", \"error\": " +
                       json_escape(ring_file_->error()) + ", \"names\": [";
    const live::Ring& ring = ring_file_->ring();
    for (uint32_t i = 0; ring.valid() && i < live::kNameSlots; ++i) {
        const live::NameEntry& entry = ring.name(i);
        if (!entry.used.load(std::memory_order_acquire)) break;
        json += std::string(i ? ", " : "") + "{\"name\": " + json_escape(entry.name) + ", \"kind\": \"" +
                (entry.kind == live::kScalar  ? "scalar"
                 : entry.kind == live::kCurve ? "curve"
                 : entry.kind == live::kImage ? "image"
                                              : "picture") +
                "\", \"count\": " + std::to_string(entry.count.load(std::memory_order_acquire)) + "}";
    }
    return json + "]}";
}

}  // namespace pyproc::engine
