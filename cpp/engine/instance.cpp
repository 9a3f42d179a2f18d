#include "instance.h"

#include <algorithm>

#include <atomic>
#include <chrono>
#include <cstring>

#include "json_escape.h"

#include "interpreter.h"

namespace pyproc::engine {

namespace {

bool lending = false;  // pyproc-worker's process: set once, before any instance exists

std::atomic<int> next_instance_id{1};

// The base object of numpy's view on the caller's memory: it owns nothing,
// it only stops pybind11 from copying.
py::capsule borrowed_memory() {
    static int tag = 0;
    return py::capsule(&tag, "oe_pyproc.borrowed", [](PyObject*) {});
}

// Float32 arrays of ROWS x COLS with their shape on the stack: pybind11's own constructors put it in
// a std::vector, an allocation per call. A view of DATA (rows ROW_STRIDE floats apart, kept alive by
// BASE), or with DATA null a new C-contiguous array.
py::array float_array(int32_t rows, int32_t cols, float* data = nullptr, ptrdiff_t row_stride = 0,
                      const py::handle& base = py::handle()) {
    auto& numpy = py::detail::npy_api::get();
    Py_intptr_t shape[2] = {rows, cols};
    Py_intptr_t strides[2] = {static_cast<Py_intptr_t>(row_stride * static_cast<ptrdiff_t>(sizeof(float))),
                              static_cast<Py_intptr_t>(sizeof(float))};
    auto array = py::reinterpret_steal<py::array>(numpy.PyArray_NewFromDescr_(
        numpy.PyArray_Type_, py::dtype::of<float>().release().ptr(), 2, shape, data ? strides : nullptr, data,
        data ? py::detail::npy_api::NPY_ARRAY_WRITEABLE_ : 0, nullptr));
    if (!array) throw py::error_already_set();
    if (data) numpy.PyArray_SetBaseObject_(array.ptr(), base.inc_ref().ptr());
    return array;
}

// A writable float32 view of LENGTH floats at DATA (kept alive by BASE), its shape on the stack.
py::array float_vector(int32_t length, float* data, const py::handle& base) {
    auto& numpy = py::detail::npy_api::get();
    Py_intptr_t shape[1] = {length};
    auto array = py::reinterpret_steal<py::array>(numpy.PyArray_NewFromDescr_(
        numpy.PyArray_Type_, py::dtype::of<float>().release().ptr(), 1, shape, nullptr, data,
        py::detail::npy_api::NPY_ARRAY_WRITEABLE_ | py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_, nullptr));
    if (!array) throw py::error_already_set();
    numpy.PyArray_SetBaseObject_(array.ptr(), base.inc_ref().ptr());
    return array;
}

// FUNCTION(ARGS...) through a tuple: pybind11's own call keeps more than 6 arguments on the heap.
template <class... Args>
py::object call(const py::handle& function, Args&&... args) {
    const py::tuple arguments = py::make_tuple(std::forward<Args>(args)...);
    PyObject* result = PyObject_Call(function.ptr(), arguments.ptr(), nullptr);
    if (!result) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(result);
}

// OBJECT.NAME, or None where it has no such attribute, without raising and clearing an AttributeError
// (hasattr() does, a microsecond each: per block, not per event). NAME: a literal, interned once.
py::object optional_attribute(const py::object& object, const char* name) {
    static std::vector<std::pair<const char*, PyObject*>> interned;  // the GIL, held here, guards it
    PyObject* key = nullptr;
    for (const auto& [text, string] : interned)
        if (text == name) key = string;
    if (!key) interned.emplace_back(name, key = PyUnicode_InternFromString(name));  // kept: never finalized
    PyObject* found = nullptr;
#if PY_VERSION_HEX >= 0x030D0000
    if (PyObject_GetOptionalAttr(object.ptr(), key, &found) < 0) throw py::error_already_set();
#else
    if (_PyObject_LookupAttr(object.ptr(), key, &found) < 0) throw py::error_already_set();
#endif
    return found ? py::reinterpret_steal<py::object>(found) : py::none();
}

}  // namespace

void lend_buffers() { lending = true; }

namespace {

bool evenly_spaced(float* const* channels, int32_t num_channels, int32_t num_samples, ptrdiff_t* stride) {
    *stride = num_channels > 1 ? channels[1] - channels[0] : num_samples;
    if (*stride < num_samples) return false;
    for (int32_t c = 1; c < num_channels; ++c)
        if (channels[c] - channels[0] != *stride * c) return false;
    return true;
}

// The runtime decides every refusal (src/oe_pyprocessor/_runtime/calls.py); it raises, so the call
// after it is not reached.
[[noreturn]] void refused_by_runtime(const char* check, const py::object& value, const char* name) {
    runtime().attr(check)(value, name);
    throw py::value_error(std::string(name) + " was refused");
}

// An int of 64 bits, read as the runtime's as_integer reads it; anything else, its error.
int64_t as_integer(const py::object& value, const char* name) {
    if (PyFloat_Check(value.ptr()) || !PyIndex_Check(value.ptr())) refused_by_runtime("as_integer", value, name);
    const auto index = py::reinterpret_steal<py::object>(PyNumber_Index(value.ptr()));
    if (!index) throw py::error_already_set();  // __index__ raised: its own words
    int overflow = 0;
    const long long number = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
    if (overflow != 0) refused_by_runtime("as_integer", index, name);
    if (number == -1 && PyErr_Occurred()) throw py::error_already_set();
    return number;
}

int64_t in_range(const py::object& value, const char* name, int64_t low, int64_t high) {
    const int64_t number = as_integer(value, name);
    if (number < low || number > high) {
        runtime().attr("in_range")(value, name, low, high);
        throw py::value_error(std::string(name) + " is out of range");  // not reached: in_range raised
    }
    return number;
}

}  // namespace

Instance::Instance(std::string script_path, const pyproc_stream& stream, const std::string& parameter_values)
    : id_(next_instance_id++),
      script_path_(std::move(script_path)),
      num_channels_(stream.num_channels),
      sample_rate_(stream.sample_rate),
      bit_volts_(stream.bit_volts) {
    for (int32_t c = 0; stream.channel_names && c < stream.num_channels; ++c)
        channel_names_.emplace_back(stream.channel_names[c] ? stream.channel_names[c] : "");
    pending_.reserve();
    delivered_.reserve();
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
}

void Instance::start() {
    if (!script_path_.empty()) load();
}

void Instance::retire() {
    if (retired_) return;
    retired_ = true;
    release_python_objects();
    handle_ = py::object();
}

Instance::~Instance() { retire(); }

std::shared_ptr<Instance> Instance::of_handle(const ProcessorHandle& handle) {
    std::shared_ptr<Instance> instance = handle.instance.lock();
    if (!instance || instance->retired_)
        throw std::runtime_error("this processor was removed from the signal chain (or its run ended); its "
                                 "PyProcessor is no longer live: stop the module's threads in stop_acquisition");
    if (handle.load != instance->loads_)
        throw std::runtime_error("this processor was reloaded: this PyProcessor belongs to the module's earlier load "
                                 "and is no longer live (stop the module's threads in stop_acquisition)");
    return instance;
}

void Instance::release_python_objects() {
    process_fn_ = py::object();
    derived_ = py::object();
    derived_arrays_ = py::object();
    derived_names_.clear();
    derived_views_.clear();
    view_ = py::object();
    spare_ = py::object();
    lent_.clear();
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
    handle_ = py::cast(ProcessorHandle{weak_from_this(), ++loads_});  // a new one per load: the old ones retire
    guarded("loading " + script_path_, [&] {
        module_ = runtime().attr("load_script")(script_path_, id_);
        if (!py::hasattr(module_, "PyProcessor"))
            throw py::value_error("the script defines no class PyProcessor: " + script_path_);
    });
    if (state_ != PYPROC_READY) return;
    load_parameters();
    if (state_ != PYPROC_READY) return;
    guarded("PyProcessor.__init__", [&] {
        // One per load, made before __init__ (which may keep processor.derived); named once it returned.
        derived_ = runtime().attr("DerivedChannels")();
        derived_arrays_ = derived_.attr("_arrays");
        processor_ = module_.attr("PyProcessor")(handle_, num_channels_, sample_rate_);
        if (!py::hasattr(processor_, "process"))
            throw py::value_error("PyProcessor has no process(self, data) method");
        process_fn_ = processor_.attr("process");
    });
    if (state_ == PYPROC_READY) read_fresh_data();
    if (state_ == PYPROC_READY) read_derived();
}

// PyProcessor.derived_channels, read once __init__ returned (it may set them, knowing num_channels); a
// declaration that cannot be used errors the module, naming it. A failed load keeps the last known ones.
void Instance::read_derived() {
    guarded("reading PyProcessor.derived_channels", [&] {
        py::list names;
        for (const auto& name : channel_names_) names.append(py::str(name));
        const py::list declared = runtime().attr("declared_derived")(processor_, names, bit_volts_);
        const py::object empty = py::module_::import("numpy").attr("zeros")(0, "float32");
        for (const auto& declaration : declared) {
            derived_names_.push_back(declaration["name"]);
            derived_arrays_[declaration["name"]] = empty;  // until the first buffer
        }
        derived_views_.assign(derived_names_.size(), {});
        const std::string json = runtime().attr("derived_json")(declared).cast<std::string>();
        std::lock_guard<std::mutex> lock(text_mutex_);
        derived_json_ = json;
    });
}

py::object Instance::derived() const {
    if (derived_) return derived_;
    return runtime().attr("DerivedChannels")();  // the module did not load
}

void Instance::bind_derived(float* const* derived, int32_t num_derived, int32_t num_samples) {
    const size_t declared = derived_names_.size();
    if (declared == 0) return;
    const auto missing = static_cast<size_t>(std::max<int32_t>(0, static_cast<int32_t>(declared) - std::max(0, num_derived)));
    if (missing && derived_scratch_.size() < missing * static_cast<size_t>(num_samples)) {
        derived_scratch_.resize(missing * static_cast<size_t>(num_samples));  // once per larger buffer
        for (size_t k = static_cast<size_t>(std::max(0, num_derived)); k < declared; ++k)
            derived_views_[k] = {};  // they viewed the scratch memory that moved
    }
    for (size_t k = 0; k < declared; ++k) {
        float* data = static_cast<int32_t>(k) < num_derived
                          ? derived[k]
                          : derived_scratch_.data() + (k - static_cast<size_t>(num_derived)) * static_cast<size_t>(num_samples);
        auto& views = derived_views_[k];
        const auto fits = [&](const DerivedView& view) { return view.data == data && view.length == num_samples; };
        DerivedView* view = fits(views[0]) ? &views[0] : fits(views[1]) ? &views[1] : nullptr;
        if (!view) {  // the older one goes
            std::swap(views[0], views[1]);
            view = &views[0];
            if (static_cast<int32_t>(k) >= num_derived) std::fill(data, data + num_samples, 0.0f);
            *view = {data, num_samples, float_vector(num_samples, data, borrowed_memory())};
        }
        if (PyDict_SetItem(derived_arrays_.ptr(), derived_names_[k].ptr(), view->array.ptr()) != 0)
            throw py::error_already_set();
    }
}

// PyProcessor.fresh_data, read once: an error reading it (a property that raises) is a warning, in words.
void Instance::read_fresh_data() {
    fresh_data_ = false;
    try {
        const py::object value = optional_attribute(processor_, "fresh_data");
        const int truth = PyObject_IsTrue(value.ptr());  // None (also: no attribute) is False
        if (truth < 0) throw py::error_already_set();
        fresh_data_ = truth == 1;
    } catch (const py::error_already_set& error) {
        warn_once("PyProcessor.fresh_data raised " + std::string(py::str(error.type().attr("__name__"))) + ": " +
                  std::string(py::str(error.value())) + "; it is read as False");
    }
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

template <class Where, class Call>
void Instance::guarded(const Where& where, Call&& call) {
    if (state_ != PYPROC_READY) return;
    try {
        call();
    } catch (const py::error_already_set& error) {
        fail(std::string(where), error);
    } catch (const std::exception& error) {
        fail(std::string(where), error.what());
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
    block_start_ = first_sample_number;
    block_length_ = num_samples;
}

// The last buffer's view can be handed out again when nothing could tell it from a new one: only the
// engine holds it, and it still views this memory as float32 rows of this shape, writable. Making an
// ndarray is most of what the engine itself spends on a buffer, and more on a cold cache.
bool Instance::unchanged_view(float* data, ptrdiff_t stride, int32_t num_channels, int32_t num_samples) const {
    if (!view_ || view_.ref_count() != 1) return false;
    static PyObject* const float32 = py::dtype::of<float>().release().ptr();  // numpy's own, kept
    const auto* array = py::detail::array_proxy(view_.ptr());
    return array->data == reinterpret_cast<char*>(data) && array->nd == 2 && array->descr == float32 &&
           array->dimensions[0] == num_channels && array->dimensions[1] == num_samples &&
           array->strides[0] == static_cast<py::ssize_t>(stride * static_cast<ptrdiff_t>(sizeof(float))) &&
           array->strides[1] == static_cast<py::ssize_t>(sizeof(float)) &&
           (array->flags & py::detail::npy_api::NPY_ARRAY_WRITEABLE_) != 0;
}

// The last copy can be filled again when nothing could tell it from a new array: only the engine
// holds it, and it is still a float32 C-contiguous array of its own, of this shape, writable. A
// megabyte's fresh allocation costs page faults on every buffer.
// Worker only: whether the module still holds an array it was lent over this memory.
bool Instance::memory_in_use(const void* address) {
    lent_.erase(std::remove_if(lent_.begin(), lent_.end(), [](const py::object& view) { return view.ref_count() == 1; }),
                lent_.end());
    return std::any_of(lent_.begin(), lent_.end(), [address](const py::object& view) {
        return py::detail::array_proxy(view.ptr())->data == static_cast<const char*>(address);
    });
}

bool Instance::spare_fits(int32_t num_channels, int32_t num_samples) const {
    if (!spare_ || spare_.ref_count() != 1) return false;
    static PyObject* const float32 = py::dtype::of<float>().release().ptr();
    const auto* array = py::detail::array_proxy(spare_.ptr());
    constexpr int needed = py::detail::npy_api::NPY_ARRAY_WRITEABLE_ | py::detail::npy_api::NPY_ARRAY_OWNDATA_ |
                           py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_;
    return array->nd == 2 && array->descr == float32 && array->base == nullptr && (array->flags & needed) == needed &&
           array->dimensions[0] == num_channels && array->dimensions[1] == num_samples;
}

py::array Instance::wrap(float* const* channels, int32_t num_channels, int32_t num_samples, bool* copied) {
    ptrdiff_t stride = 0;
    const bool even = evenly_spaced(channels, num_channels, num_samples, &stride);
    if (lending)  // a C-contiguous view of memory that nothing holds is as fresh as a new array
        *copied = !lendable_ || !even || (num_channels > 1 && stride != num_samples) || memory_in_use(channels[0]);
    else
        *copied = copy_buffers_ || first_call_ || fresh_data_ || !even;
    if (!*copied) {
        if (!unchanged_view(channels[0], stride, num_channels, num_samples))
            view_ = float_array(num_channels, num_samples, channels[0], stride, borrowed_memory());
        return py::reinterpret_borrow<py::array>(view_);
    }
    py::array data = spare_fits(num_channels, num_samples) ? py::reinterpret_steal<py::array>(spare_.release())
                                                           : float_array(num_channels, num_samples);
    auto* rows = static_cast<float*>(data.mutable_data());
    for (int32_t c = 0; c < num_channels; ++c)
        std::memcpy(rows + static_cast<size_t>(c) * static_cast<size_t>(num_samples), channels[c],
                    sizeof(float) * static_cast<size_t>(num_samples));
    return data;
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
            if (values) {
                for (int32_t c = 0; c < num_channels; ++c)
                    std::memcpy(channels[c], values.data(c, 0), sizeof(float) * static_cast<size_t>(num_samples));
                return;
            }
            PyErr_Clear();  // no float32 form (strings, records...): ignored, as any other unusable return
        }
    }
    if (!warned_return_)
        warn_once(warned_return_,
                  runtime().attr("ignored_return_warning")(result, num_channels, num_samples).cast<std::string>());
}

bool Instance::process(float* const* channels, int32_t num_channels, int32_t num_samples, float* const* derived,
                       int32_t num_derived) {
    if (state_ != PYPROC_READY || !channels || num_channels <= 0 || num_samples <= 0) return false;
    if (changes_pending_) {  // between buffers, never while process() runs
        apply_parameter_changes();
        if (state_ != PYPROC_READY) return true;
    }
    guarded("process()", [&] {
        bind_derived(derived, num_derived, num_samples);
        bool copied = false;
        py::array data = wrap(channels, num_channels, num_samples, &copied);
        const auto* copy = static_cast<const float*>(data.data());  // rows of num_samples when copied
        first_call_ = false;
        py::object result = process_fn_(data);
        if (copied) {
            // From the copy's own memory: a module may have reshaped it (`data.shape = (-1,)`).
            // Checked before a byte is read: `data.resize(..., refcheck=False)` may keep the address and
            // shrink (or grow) the memory behind it.
            const auto expected = static_cast<py::ssize_t>(sizeof(float)) * num_channels * num_samples;
            if (data.data() != copy || data.nbytes() != expected)
                throw py::value_error("process() resized `data`; edit it in place, or return a new array");
            for (int32_t c = 0; c < num_channels; ++c)
                std::memcpy(channels[c], copy + static_cast<size_t>(c) * static_cast<size_t>(num_samples),
                            sizeof(float) * static_cast<size_t>(num_samples));
        }
        take_result(result, data, channels, num_channels, num_samples);
        result = py::object();  // a returned `data` is not a kept one
        const bool cached = data.is(view_);
        const bool kept = data.ref_count() > (cached ? 2 : 1);  // beyond the engine's own: `data` and view_
        if (kept && cached) view_ = py::object();  // the module holds it: never handed out again
        if (copied && !kept) spare_ = data;         // nobody else holds it: the next copy goes into it
        if (kept && !copied && lending) lent_.push_back(data);  // its memory is not filled again while held
        if (kept && !copy_buffers_ && !lending) {
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
    return true;
}

namespace {

void zero(float* const* channels, int32_t count, int32_t num_samples) {
    for (int32_t k = 0; k < count; ++k)
        if (channels[k]) std::memset(channels[k], 0, sizeof(float) * static_cast<size_t>(std::max(0, num_samples)));
}

}  // namespace

pyproc_outputs Instance::run_block(const pyproc_block& block) {
    const auto started = std::chrono::steady_clock::now();
    lendable_ = (block.flags & PYPROC_BLOCK_LEND) != 0;
    begin_block(block.first_sample_number, block.num_samples);
    if (block.events && block.num_events > 0) {
        const py::object method = handler("handle_ttl_event");
        for (size_t i = 0; i < block.num_events; ++i) ttl_event(block.events[i], method);
    }
    if (block.spikes && block.num_spikes > 0) {
        const py::object method = handler("handle_spike");
        for (size_t i = 0; i < block.num_spikes; ++i) spike(block.spikes[i], method);
    }
    const int32_t num_derived = block.derived && block.num_samples > 0 ? block.num_derived : 0;
    zero(block.derived, num_derived, block.num_samples);
    const bool called = process(block.channels, block.num_channels, block.num_samples, block.derived, num_derived);
    if (state_ != PYPROC_READY) zero(block.derived, num_derived, block.num_samples);  // never half a buffer's values
    const pyproc_outputs out = take_outputs();
    if (called) {
        const double micros = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - started).count();
        latency_.add(micros, sample_rate_ > 0 ? 1e6 * block.num_samples / sample_rate_ : 0);
    }
    return out;
}

py::object Instance::handler(const char* method) {
    py::object found = py::none();
    guarded(method, [&] { found = optional_attribute(processor_, method); });
    return found;
}

void Instance::ttl_event(const pyproc_ttl_input& event, const py::object& handler) {
    publish_event(event.sample_number, event.line, event.state != 0, live::kReceived);
    if (state_ != PYPROC_READY || handler.is_none()) return;
    guarded("handle_ttl_event()", [&] {
        call(handler, event.source_node, event.channel_name ? event.channel_name : "",
             event.sample_number, event.line, py::bool_(event.state != 0));  // a bool, as in the published plugin
    });
}

void Instance::spike(const pyproc_spike& spike, const py::object& handler) {
    if (!spike.waveform || spike.num_channels <= 0 || spike.num_samples <= 0) return;
    if (state_ != PYPROC_READY || handler.is_none()) return;
    guarded("handle_spike()", [&] {
        py::array waveform = float_array(spike.num_channels, spike.num_samples);
        std::memcpy(waveform.mutable_data(), spike.waveform,
                    sizeof(float) * static_cast<size_t>(spike.num_channels) * static_cast<size_t>(spike.num_samples));
        call(handler, spike.source_node, spike.electrode_name ? spike.electrode_name : "",
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
    acquiring_ = acquiring;
}

// What pybind11's bool caster, which the published plugin's add_python_event(int, bool) used,
// accepts: True/False, None (False), and any object with a number protocol truth value; else the
// runtime's as_state raises.
static bool as_state(const py::object& state) {
    PyTypeObject* type = Py_TYPE(state.ptr());
    const bool convertible = PyBool_Check(state.ptr()) || state.is_none() ||
                             (type->tp_as_number && type->tp_as_number->nb_bool);
    if (!convertible) return runtime().attr("as_state")(state).cast<bool>();
    const int truth = PyObject_IsTrue(state.ptr());
    if (truth < 0) throw py::error_already_set();
    return truth == 1;
}

void Instance::add_python_event(const py::object& line, const py::object& state, const py::object& offset) {
    // Python runs only in these conversions (it may hand the GIL to another thread); from here on the
    // GIL is held throughout, which keeps the block and the outputs consistent.
    const int64_t line_number = as_integer(line, "line");
    const bool on = as_state(state);
    const int64_t sample_offset = in_range(offset, "sample_offset", 0, block_length_ > 0 ? block_length_ - 1 : 0);
    if (!acquiring_) {
        if (!warned_not_acquiring_) warn_once(warned_not_acquiring_, runtime().attr("NOT_ACQUIRING").cast<std::string>());
        return;
    }
    if (line_number < 0 || line_number > 255) {
        if (!warned_line_)
            warn_once(warned_line_, runtime().attr("line_outside_warning")(line_number).cast<std::string>());
        return;
    }
    pending_.events.push_back({block_start_ + sample_offset, static_cast<uint8_t>(line_number), on ? uint8_t{1} : uint8_t{0}});
    publish_event(block_start_ + sample_offset, static_cast<uint8_t>(line_number), on, live::kSent);
}

void Instance::add_python_spike(const py::object& sample_number, const py::object& waveform,
                                const py::object& sorted_id, const py::object& electrode) {
    const int64_t sample = in_range(sample_number, "sample_number", 0, INT64_MAX);
    const auto sorted = static_cast<uint16_t>(in_range(sorted_id, "sorted_id", 0, 65535));
    if (!py::isinstance<py::str>(electrode)) runtime().attr("check_electrode")(electrode);  // raises
    // ensure() (not a default-constructed array_t, which allocates an empty array) gives null when it cannot;
    // then, or for another shape, the runtime's waveform_array raises (or converts what it can).
    using Waveform = py::array_t<float, py::array::c_style | py::array::forcecast>;
    auto values = Waveform::ensure(waveform);
    if (!values) PyErr_Clear();
    if (!values || values.ndim() != 2 || values.shape(0) < 1 || values.shape(1) < 1)
        values = Waveform::ensure(runtime().attr("waveform_array")(waveform));
    if (!values) throw py::error_already_set();
    Py_ssize_t name_length = 0;
    const char* name = PyUnicode_AsUTF8AndSize(electrode.ptr(), &name_length);
    if (!name) throw py::error_already_set();
    // Stored by offset: the arenas may grow; take_outputs() points the headers into them.
    pending_.offsets.push_back({pending_.samples.size(), pending_.names.size()});
    pending_.samples.insert(pending_.samples.end(), values.data(), values.data() + values.size());
    pending_.names.insert(pending_.names.end(), name, name + name_length);
    pending_.names.push_back('\0');
    pending_.spikes.push_back({sample, nullptr, 0, sorted, static_cast<int32_t>(values.shape(0)),
                               static_cast<int32_t>(values.shape(1)), nullptr});
}

pyproc_outputs Instance::take_outputs() {
    delivered_.clear();
    std::swap(delivered_, pending_);  // the cleared storage goes on filling: capacity is kept
    for (size_t i = 0; i < delivered_.spikes.size(); ++i) {
        delivered_.spikes[i].waveform = delivered_.samples.data() + delivered_.offsets[i].samples;
        delivered_.spikes[i].electrode_name = delivered_.names.data() + delivered_.offsets[i].name;
    }
    return {delivered_.events.data(), delivered_.events.size(), delivered_.spikes.data(), delivered_.spikes.size()};
}

void Instance::clear_outputs() { delivered_.clear(); }

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
    if (!text || size == 0 || size > live::kMaxNameBytes || std::memchr(text, '\0', static_cast<size_t>(size))) {
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

void Instance::set_host_fields(const std::string& host_fields_json) {
    py::object fields = py::module_::import("json").attr("loads")(host_fields_json);
    if (!py::isinstance<py::dict>(fields)) throw std::invalid_argument("set_host_fields() takes a JSON object");
    write_meta(fields);
}

uint32_t Instance::name_index(const PublishedName& name, uint8_t kind) {
    uint8_t registered = kind;
    const int index = ring_file_->ring().find_or_add_name(name.text, name.length, &registered);
    if (index == -1) raise(runtime().attr("too_many_names_error")(name.object));
    if (index == -2) raise(runtime().attr("kind_change_error")(name.object, registered, kind));
    return static_cast<uint32_t>(index);
}

bool Instance::warn_if_no_ring() {
    if (ring_file_->ring().valid()) return false;
    if (!warned_no_ring_) warn_once(warned_no_ring_, "publish(): " + ring_file_->error() + "; nothing is published");
    return true;
}

void Instance::write_frame(const PublishedName& name, uint8_t kind, uint8_t dtype, const FrameShape& shape,
                           const void* values, size_t value_bytes, const void* x, size_t x_bytes) {
    if (warn_if_no_ring()) return;
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
    if (xs.is_none())  // (a default py::array would allocate an empty array)
        return write_frame(published, kind, dtype, shape, array.data(), static_cast<size_t>(array.nbytes()), nullptr, 0);
    const auto x_array = py::reinterpret_borrow<py::array>(xs);
    write_frame(published, kind, dtype, shape, array.data(), static_cast<size_t>(array.nbytes()), x_array.data(),
                static_cast<size_t>(x_array.nbytes()));
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
