#include "interpreter.h"

#include <mutex>

#include <pybind11/numpy.h>

#include "runtime_source.h"

#if defined(_WIN32)
#include <windows.h>
#endif

namespace pyproc::engine {

namespace {

std::mutex start_mutex;
bool started = false;
std::string started_home;
std::string problem;
PyInterpreterState* interpreter = nullptr;
// Leaked on purpose: the interpreter is never finalized, and a static
// destructor would run without the GIL at exit.
py::module_* runtime_module = nullptr;
thread_local int gil_depth = 0;

std::string status_text(const PyStatus& status) {
    std::string text = status.err_msg ? status.err_msg : "unknown error";
    if (status.func) text = std::string(status.func) + ": " + text;
    return text;
}

// Paths arrive as UTF-8. POSIX Python decodes bytes with the locale encoding,
// exactly as it will encode them back for the file system.
PyStatus set_path(PyConfig& config, wchar_t** field, const char* utf8) {
#if defined(_WIN32)
    const int n = MultiByteToWideChar(CP_UTF8, 0, utf8, -1, nullptr, 0);
    std::wstring wide(static_cast<size_t>(n > 0 ? n : 1), L'\0');
    MultiByteToWideChar(CP_UTF8, 0, utf8, -1, wide.data(), n);
    return PyConfig_SetString(&config, field, wide.c_str());
#else
    return PyConfig_SetBytesString(&config, field, utf8);
#endif
}

std::string initialize(const pyproc_start_options& options) {
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0;  // signals belong to the host program
    config.parse_argv = 0;
    config.use_environment = 0;          // PYTHONHOME/PYTHONPATH must not override the chosen home
    config.buffered_stdio = 0;           // never finalized, so buffered prints would be lost at exit
    config.user_site_directory = 0;      // the env alone decides what imports; `oe-pyproc doctor` flags --user installs
    PyStatus status = set_path(config, &config.program_name, options.program_name);
    if (!PyStatus_Exception(status)) status = set_path(config, &config.executable, options.program_name);
    if (!PyStatus_Exception(status) && options.python_home && *options.python_home)
        status = set_path(config, &config.home, options.python_home);
    if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) return "Python could not start: " + status_text(status);
    return {};
}

// The runtime's parts (runtime_source.h) as the package _oe_pyproc_runtime, each part its submodule, so
// that their relative imports resolve as in the stand-in's oe_pyprocessor._runtime.
py::module_ load_runtime() {
    const py::object module_type = py::module_::import("types").attr("ModuleType");
    const py::object modules = py::module_::import("sys").attr("modules");
    const std::string package_name = "_oe_pyproc_runtime";
    py::module_ package = module_type(package_name);
    package.attr("__path__") = py::list();
    package.attr("__package__") = package_name;
    modules[package_name.c_str()] = package;
    for (const RuntimePart& part : kRuntimeParts) {
        if (std::string(part.name) == "__init__") {
            py::exec(part.source, package.attr("__dict__"));
            continue;
        }
        const std::string name = package_name + "." + part.name;
        py::module_ module = module_type(name);
        module.attr("__package__") = package_name;
        modules[name.c_str()] = module;
        py::exec(part.source, module.attr("__dict__"));
        package.attr(part.name) = module;
    }
    return package;
}

// Runs with the GIL held, right after initialization.
std::string prepare_modules() {
    try {
        runtime_module = new py::module_(load_runtime());
        py::module_::import("oe_pyprocessor");
    } catch (const std::exception& e) {
        return std::string("the engine's own Python setup failed: ") + e.what();
    }
    try {
        py::module_::import("numpy");
        // pybind11 looks numpy's C API up on first use: do it now, not in the first buffer.
        py::array_t<float>(std::vector<py::ssize_t>{1, 1});
    } catch (const py::error_already_set& e) {
        return "numpy cannot be imported in this Python Home: " + std::string(e.what());
    }
    return {};
}

}  // namespace

std::string start_interpreter(const pyproc_start_options& options) {
    std::lock_guard<std::mutex> lock(start_mutex);
    const std::string home = options.python_home && *options.python_home ? options.python_home
                                                                           : options.program_name;
    if (started) {
        if (home != started_home)
            return "Python already runs in this process from '" + started_home +
                   "'; restart the program to use '" + home + "'";
        return problem;
    }
    if (Py_IsInitialized()) return "Python was already started in this process by someone else";
    started = true;  // even if it fails: a half-initialized runtime must not be initialized again
    started_home = home;
    if (std::string error = initialize(options); !error.empty()) return problem = error;
    interpreter = PyThreadState_Get()->interp;
    gil_depth = 1;
    problem = prepare_modules();
    gil_depth = 0;
    PyEval_SaveThread();  // from now on every entry takes the GIL itself
    return problem;
}

bool interpreter_started() { return started; }
const std::string& interpreter_problem() { return problem; }
py::module_& runtime() { return *runtime_module; }

GilEntry::GilEntry() {
    if (gil_depth++ > 0) return;
    PyThreadState* state = PyGILState_GetThisThreadState();
    if (!state) state = PyThreadState_New(interpreter);
    PyEval_RestoreThread(state);
    owner_ = true;
}

GilEntry::~GilEntry() {
    --gil_depth;
    if (owner_) PyEval_SaveThread();
}

}  // namespace pyproc::engine
