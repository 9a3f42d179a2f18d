#include "loader.h"

#include <memory>
#include <mutex>

#if defined(_WIN32)
#include <windows.h>
#else
#include <dlfcn.h>
#endif

namespace pyproc::loader {

namespace {

std::mutex load_mutex;
std::unique_ptr<LoadedEngine> engine;  // never unloaded: Python cannot be torn down safely
fs::path loaded_libpython;             // once loaded globally, no other libpython may follow

std::string quoted(const fs::path& path) { return "'" + path.u8string() + "'"; }

#if defined(_WIN32)

std::string last_error_text() {
    wchar_t* buffer = nullptr;
    const DWORD code = GetLastError();
    FormatMessageW(FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
                   nullptr, code, 0, reinterpret_cast<wchar_t*>(&buffer), 0, nullptr);
    std::string text = buffer ? fs::path(buffer).u8string() : "error " + std::to_string(code);
    LocalFree(buffer);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == '.')) text.pop_back();
    return text;
}

// The GUI loads plugins with LOAD_LIBRARY_SEARCH_DEFAULT_DIRS, where PATH does
// not count: the env's DLL folders must be added explicitly, before Python's
// extension modules start loading their dependencies.
void add_dll_dirs(const PythonHome& home) {
    for (const auto& dir : home.dll_dirs) AddDllDirectory(dir.wstring().c_str());
}

void* open_library(const fs::path& path) {
    HMODULE module = LoadLibraryExW(path.wstring().c_str(), nullptr,
                                    LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR | LOAD_LIBRARY_SEARCH_DEFAULT_DIRS);
    if (!module) throw HomeError("could not load " + quoted(path) + ": " + last_error_text());
    return reinterpret_cast<void*>(module);
}

void* find_symbol(void* library, const char* name) {
    return reinterpret_cast<void*>(GetProcAddress(reinterpret_cast<HMODULE>(library), name));
}

void load_python(const PythonHome& home) {
    add_dll_dirs(home);
    // abi3 wheels import python3.dll, which CPython looks for only beside
    // pythonXY.dll; a conda env keeps it at its root, so load it first.
    const fs::path stable_abi = home.base / "python3.dll";
    if (fs::exists(stable_abi)) open_library(stable_abi);
    open_library(home.libpython);
}

#else

void* open_library(const fs::path& path, int flags) {
    void* library = dlopen(path.c_str(), flags);
    if (!library) {
        const char* reason = dlerror();
        throw HomeError("could not load " + quoted(path) + ": " + (reason ? reason : "unknown reason"));
    }
    return library;
}

void* open_library(const fs::path& path) { return open_library(path, RTLD_NOW | RTLD_LOCAL); }

void* find_symbol(void* library, const char* name) { return dlsym(library, name); }

// RTLD_GLOBAL: numpy's and every other C extension's references to Python's
// symbols resolve against this libpython, even though the GUI opened the
// plugin with RTLD_LOCAL.
void load_python(const PythonHome& home) { open_library(home.libpython, RTLD_NOW | RTLD_GLOBAL); }

#endif

const pyproc_engine_api* open_engine(const fs::path& path) {
    void* library = open_library(path);
    auto entry = reinterpret_cast<pyproc_engine_entry_fn>(find_symbol(library, PYPROC_ENGINE_ENTRY));
    if (!entry) throw HomeError(quoted(path) + " is not a Python Processor engine (no " PYPROC_ENGINE_ENTRY ")");
    const pyproc_engine_api* api = entry();
    if (!api || api->abi_version != PYPROC_ENGINE_ABI_VERSION)
        throw HomeError(quoted(path) + " is an engine of another release (ABI " +
                        std::to_string(api ? api->abi_version : 0) + ", expected " +
                        std::to_string(PYPROC_ENGINE_ABI_VERSION) + "); reinstall oe-python-processor");
    return api;
}

void start(const LoadedEngine& loaded) {
    const std::string home = loaded.home.config_home();
    const std::string program = loaded.home.executable.u8string();
    const pyproc_start_options options{home.c_str(), program.c_str()};
    char error[4096] = {0};
    if (loaded.api->start(&options, error, sizeof error) != 0)
        throw HomeError("Python " + loaded.home.version + " from " + quoted(loaded.home.root) +
                        " did not start: " + error);
}

}  // namespace

const LoadedEngine& load_engine(const fs::path& python_home, const std::vector<fs::path>& engine_dirs) {
    std::lock_guard<std::mutex> lock(load_mutex);
    PythonHome home = inspect_python_home(python_home);
    if (engine) {
        if (engine->home.root != home.root)
            throw HomeError("Python from " + quoted(engine->home.root) + " already runs in this process; restart "
                            "the program to switch to " + quoted(home.root));
        start(*engine);  // repeats the reason if Python could not start the first time
        return *engine;
    }
    if (!loaded_libpython.empty() && loaded_libpython != home.libpython)
        throw HomeError(quoted(loaded_libpython) + " is already loaded in this process; restart the program to use " +
                        quoted(home.root));
    auto loaded = std::make_unique<LoadedEngine>();
    loaded->engine_path = find_engine(home, engine_dirs);
    loaded->home = std::move(home);
    load_python(loaded->home);
    loaded_libpython = loaded->home.libpython;
    loaded->api = open_engine(loaded->engine_path);
    // From here on Python is part of the process, even if it fails to start.
    engine = std::move(loaded);
    start(*engine);
    char version[64] = {0};
    engine->api->python_version(version, sizeof version);
    engine->python_version = version;
    return *engine;
}

const LoadedEngine* loaded_engine() { return engine.get(); }

}  // namespace pyproc::loader
