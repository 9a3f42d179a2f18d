// The C ABI: every entry takes the GIL and stops every exception here.
#include "pyproc/engine_api.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <string>

#include "instance.h"
#include "interpreter.h"

using namespace pyproc::engine;

struct pyproc_instance {
    // Shared with the module's threads for the length of each of their calls (Instance::of_handle).
    std::shared_ptr<Instance> instance;
    // An error outside Python (engine not started...), kept for error_text; read by state() and
    // error_text(), which may run beside process() on another thread.
    mutable std::mutex error_mutex;
    std::string last_error;

    void set_error(std::string text) {
        std::lock_guard<std::mutex> lock(error_mutex);
        last_error = std::move(text);
    }
    std::string error() const {
        std::lock_guard<std::mutex> lock(error_mutex);
        return last_error;
    }
};

namespace {

size_t copy_text(const std::string& text, char* out, size_t len) {
    if (out && len > 0) {
        const size_t n = std::min(text.size(), len - 1);
        std::memcpy(out, text.data(), n);
        out[n] = '\0';
    }
    return text.size();
}

// Runs `call` on a live instance with the GIL held; nothing escapes.
template <class Call>
void with_instance(pyproc_instance* handle, Call&& call) {
    if (!handle || !handle->instance) return;
    try {
        GilEntry gil;
        call(*handle->instance);
    } catch (const std::exception& error) {
        handle->set_error(std::string("engine error: ") + error.what());
    } catch (...) {
        handle->set_error("engine error: unknown exception");
    }
}

int start(const pyproc_start_options* options, char* err, size_t err_len) {
    try {
        if (!options || !options->program_name) return copy_text("no program name given", err, err_len), -1;
        const std::string problem = start_interpreter(*options);
        copy_text(problem, err, err_len);
        return problem.empty() ? 0 : -1;
    } catch (const std::exception& error) {
        copy_text(error.what(), err, err_len);
        return -1;
    }
}

size_t python_version(char* out, size_t len) {
    std::string version = interpreter_started() ? Py_GetVersion() : "";
    return copy_text(version.substr(0, version.find(' ')), out, len);
}

pyproc_instance* create(const char* script_path, const pyproc_stream* stream, const char* parameter_values) {
    try {
        auto* handle = new pyproc_instance;
        if (!interpreter_started()) {
            handle->set_error("the engine was not started with a Python Home");
            return handle;
        }
        if (!interpreter_problem().empty()) {  // Python may not even be running: touch nothing
            handle->set_error("Python is not usable: " + interpreter_problem());
            return handle;
        }
        GilEntry gil;
        const pyproc_stream none{};
        handle->instance = std::make_shared<Instance>(script_path ? script_path : "", stream ? *stream : none,
                                                      parameter_values ? parameter_values : "");
        handle->instance->start();
        return handle;
    } catch (...) {
        return nullptr;
    }
}

void destroy(pyproc_instance* handle) {
    if (!handle) return;
    if (handle->instance) {
        try {
            GilEntry gil;
            handle->instance->retire();
            handle->instance.reset();  // a module thread inside a call may hold it until that call returns
        } catch (...) {
        }
    }
    delete handle;
}

pyproc_state reload(pyproc_instance* handle) {
    if (handle) handle->set_error("");
    with_instance(handle, [](Instance& instance) { instance.reload(); });
    return handle && handle->instance ? handle->instance->state() : PYPROC_ERRORED;
}

pyproc_state state(const pyproc_instance* handle) {
    if (!handle || !handle->instance || !handle->error().empty()) return PYPROC_ERRORED;
    return handle->instance->state();
}

size_t error_text(const pyproc_instance* handle, char* out, size_t len) {
    if (!handle) return copy_text("no instance", out, len);
    if (const std::string error = handle->error(); !error.empty()) return copy_text(error, out, len);
    return copy_text(handle->instance ? handle->instance->error() : "", out, len);
}

size_t warning_text(const pyproc_instance* handle, char* out, size_t len) {
    return copy_text(handle && handle->instance ? handle->instance->warnings() : "", out, len);
}

void run_block(pyproc_instance* handle, const pyproc_block* block, pyproc_outputs* out) {
    if (out) *out = pyproc_outputs{};
    if (!block) return;
    with_instance(handle, [&](Instance& instance) {
        const pyproc_outputs taken = instance.run_block(*block);
        if (out) *out = taken;
    });
}

void start_acquisition(pyproc_instance* handle) {
    with_instance(handle, [](Instance& instance) {
        instance.set_acquiring(true);  // events from start_acquisition() land in the first buffer
        instance.call_optional("start_acquisition");
    });
}

void stop_acquisition(pyproc_instance* handle) {
    with_instance(handle, [](Instance& instance) {
        instance.set_acquiring(false);
        instance.call_optional("stop_acquisition");
    });
}

void start_recording(pyproc_instance* handle, const char* recording_dir) {
    with_instance(handle, [&](Instance& instance) {
        instance.call_optional("start_recording", recording_dir ? recording_dir : "");
    });
}

void stop_recording(pyproc_instance* handle) {
    with_instance(handle, [](Instance& instance) { instance.call_optional("stop_recording"); });
}

// With the GIL: the module's threads fill the outputs holding it.
void outputs(pyproc_instance* handle, pyproc_outputs* out) {
    if (!out) return;
    *out = pyproc_outputs{};
    with_instance(handle, [&](Instance& instance) { *out = instance.take_outputs(); });
}

void clear_outputs(pyproc_instance* handle) {
    with_instance(handle, [](Instance& instance) { instance.clear_outputs(); });
}

void latency(const pyproc_instance* handle, pyproc_latency* out) {
    if (!out) return;
    *out = handle && handle->instance ? handle->instance->latency().summary() : pyproc_latency{};
}

size_t parameters(pyproc_instance* handle, char* out, size_t len) {
    std::string text = kNoParametersJson;
    with_instance(handle, [&](Instance& instance) { text = instance.parameters_json(); });
    return copy_text(text, out, len);
}

int set_parameter(pyproc_instance* handle, const char* name, const char* value, char* err, size_t err_len) {
    std::string refusal = "no instance";
    if (name && value) with_instance(handle, [&](Instance& instance) { refusal = instance.set_parameter(name, value); });
    copy_text(refusal, err, err_len);
    return refusal.empty() ? 0 : -1;
}

void set_host_fields(pyproc_instance* handle, const char* host_fields_json) {
    if (host_fields_json) with_instance(handle, [&](Instance& instance) { instance.set_host_fields(host_fields_json); });
}

size_t live_status(const pyproc_instance* handle, char* out, size_t len) {
    try {
        const std::string none = R"({"path": "", "error": "no instance", "names": []})";
        return copy_text(handle && handle->instance ? handle->instance->live_status() : none, out, len);
    } catch (...) {
        return copy_text("{}", out, len);
    }
}

void set_limits(pyproc_instance*, double, double) {}  // in-process: the module runs on the caller's thread

int become_worker(const char* fault_report_path, char* err, size_t err_len) {
    try {
        if (!interpreter_started()) return copy_text("the engine was not started", err, err_len), -1;
        GilEntry gil;
        lend_buffers();
        py::dict scope;
        scope["path"] = fault_report_path ? fault_report_path : "";
        // The file stays open for the process's life: faulthandler writes into it from a signal handler.
        py::exec(R"(
import faulthandler, signal, sys
sys._pyproc_fault_report = open(path, "a")
faulthandler.enable(file=sys._pyproc_fault_report, all_threads=True)
if hasattr(signal, "SIGUSR1"):
    faulthandler.register(signal.SIGUSR1, file=sys._pyproc_fault_report, all_threads=True, chain=False)
)", scope);
        return 0;
    } catch (const std::exception& error) {
        copy_text(error.what(), err, err_len);
        return -1;
    }
}

int memory_in_use(pyproc_instance* handle, const void* address) {
    int in_use = 0;
    with_instance(handle, [&](Instance& instance) { in_use = instance.memory_in_use(address) ? 1 : 0; });
    return in_use;
}

// No GIL: the declarations are kept as text, so a GUI may read them beside process().
size_t derived_channels(const pyproc_instance* handle, char* out, size_t len) {
    try {
        return copy_text(handle && handle->instance ? handle->instance->derived_json()
                                                    : R"({"known": false, "channels": []})",
                         out, len);
    } catch (...) {
        return copy_text("{}", out, len);
    }
}

const pyproc_engine_api api_table = {
    PYPROC_ENGINE_ABI_VERSION,
    start,
    python_version,
    create,
    destroy,
    reload,
    state,
    error_text,
    warning_text,
    run_block,
    start_acquisition,
    stop_acquisition,
    start_recording,
    stop_recording,
    outputs,
    clear_outputs,
    latency,
    parameters,
    set_parameter,
    set_host_fields,
    live_status,
    set_limits,
    become_worker,
    memory_in_use,
    derived_channels,
};

}  // namespace

extern "C" PYPROC_ENGINE_EXPORT const pyproc_engine_api* pyproc_engine_entry(void) { return &api_table; }
