#include "plugin_location.h"

#include <algorithm>

#if defined(_WIN32)
#include <windows.h>
#else
#include <dlfcn.h>
#endif

namespace pyproc::plugin {

namespace fs = std::filesystem;

fs::path pluginFile() {
#if defined(_WIN32)
    HMODULE module = nullptr;
    GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                       reinterpret_cast<LPCWSTR>(&pluginFile), &module);
    wchar_t buffer[32768];
    const DWORD length = GetModuleFileNameW(module, buffer, 32768);
    return fs::path(std::wstring(buffer, length));
#else
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&pluginFile), &info) == 0 || !info.dli_fname) return {};
    return fs::absolute(fs::path(info.dli_fname));
#endif
}

std::vector<fs::path> engineFolders(const fs::path& savedStateShared) {
    std::vector<fs::path> folders;
    auto add = [&](const fs::path& folder) {
        std::error_code ignored;
        if (fs::is_directory(folder, ignored) &&
            std::find(folders.begin(), folders.end(), folder) == folders.end())
            folders.push_back(folder);
    };
    // macOS: <plugins>/python-processor.bundle/Contents/MacOS/python-processor
    fs::path plugins = pluginFile().parent_path();
    if (plugins.filename() == "MacOS") plugins = plugins.parent_path().parent_path().parent_path();
    // A plugin may sit in a subfolder of plugins-api10: look up a few levels.
    fs::path level = plugins;
    for (int depth = 0; depth < 3 && level.has_parent_path(); ++depth, level = level.parent_path()) {
        add(level.parent_path() / "shared-api10" / "python-processor");
        add(level.parent_path() / "shared" / "python-processor");
        if (level.filename().string().rfind("plugins", 0) == 0) break;
    }
    add(savedStateShared / "python-processor");
    return folders;
}

}  // namespace pyproc::plugin
