#include "python_home.h"

#include <algorithm>
#include <fstream>
#include <regex>

namespace pyproc::loader {

namespace {

#if defined(_WIN32)
constexpr bool kWindows = true;
#else
constexpr bool kWindows = false;
#endif

std::string quoted(const fs::path& path) { return "'" + path.u8string() + "'"; }

bool present(const fs::path& path) {
    std::error_code ignored;
    return fs::exists(path, ignored);
}

std::string trim(const std::string& text) {
    const auto begin = text.find_first_not_of(" \t\r\n");
    const auto end = text.find_last_not_of(" \t\r\n");
    return begin == std::string::npos ? "" : text.substr(begin, end - begin + 1);
}

// "3.10.13" -> "3.10"
std::string major_minor(const std::string& version) {
    std::smatch match;
    static const std::regex pattern(R"((\d+)\.(\d+))");
    return std::regex_search(version, match, pattern) ? match[1].str() + "." + match[2].str() : "";
}

std::string compact(const std::string& version) {  // "3.10" -> "310"
    std::string digits = version;
    digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
    return digits;
}

bool version_at_least(const std::string& version, int major, int minor) {
    const auto dot = version.find('.');
    const int have_major = std::stoi(version.substr(0, dot));
    const int have_minor = std::stoi(version.substr(dot + 1));
    return have_major > major || (have_major == major && have_minor >= minor);
}

struct VenvConfig {
    fs::path home;  // folder of the base interpreter
    std::string version;
    bool system_site_packages = false;
};

VenvConfig read_pyvenv_cfg(const fs::path& file) {
    VenvConfig config;
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
        const auto eq = line.find('=');
        if (eq == std::string::npos) continue;
        const std::string key = trim(line.substr(0, eq));
        const std::string value = trim(line.substr(eq + 1));
        if (key == "home") config.home = fs::u8path(value);
        if (key == "version" || key == "version_info") config.version = major_minor(value);
        if (key == "include-system-site-packages") config.system_site_packages = value == "true";
    }
    return config;
}

std::string conda_python_version(const fs::path& root) {
    std::error_code ignored;
    static const std::regex record(R"(python-(\d+\.\d+)\.[^-]*-.*\.json)");
    for (const auto& entry : fs::directory_iterator(root / "conda-meta", ignored)) {
        std::smatch match;
        const std::string name = entry.path().filename().u8string();
        if (std::regex_match(name, match, record)) return match[1].str();
    }
    return "";
}

// Where libpython may lie: lib/, or on Debian-style systems lib/<multiarch>/.
std::vector<fs::path> library_dirs(const fs::path& root) {
    if (kWindows) return {root};
    std::vector<fs::path> dirs{root / "lib"};
    std::error_code ignored;
    for (const auto& entry : fs::directory_iterator(root / "lib", ignored)) {
        const std::string name = entry.path().filename().u8string();
        if (entry.is_directory(ignored) && name.find("-linux-") != std::string::npos) dirs.push_back(entry.path());
    }
    return dirs;
}

// The installation's version from its libpython (or pythonXY.dll) file name.
std::string installed_version(const fs::path& root) {
    std::error_code ignored;
    static const std::regex unix_lib(R"(libpython(\d+)\.(\d+)\.(so|dylib).*)");
    static const std::regex windows_dll(R"(python(\d)(\d+)\.dll)", std::regex::icase);
    for (const auto& folder : library_dirs(root)) {
        for (const auto& entry : fs::directory_iterator(folder, ignored)) {
            std::smatch match;
            const std::string name = entry.path().filename().u8string();
            if (std::regex_match(name, match, kWindows ? windows_dll : unix_lib))
                return match[1].str() + "." + match[2].str();
        }
    }
    // A static build has no libpython, but its standard library still names the version.
    static const std::regex stdlib_dir(R"(python(\d+)\.(\d+))");
    for (const auto& entry : fs::directory_iterator(root / "lib", ignored)) {
        std::smatch match;
        const std::string name = entry.path().filename().u8string();
        if (std::regex_match(name, match, stdlib_dir) && present(entry.path() / "os.py"))
            return match[1].str() + "." + match[2].str();
    }
    return "";
}

fs::path stdlib_dir(const fs::path& base, const std::string& version) {
    return kWindows ? base / "Lib" : base / "lib" / ("python" + version);
}

fs::path libpython_path(const fs::path& base, const std::string& version) {
#if defined(_WIN32)
    return base / ("python" + compact(version) + ".dll");
#elif defined(__APPLE__)
    return base / "lib" / ("libpython" + version + ".dylib");
#else
    for (const auto& folder : library_dirs(base))
        for (const char* suffix : {".so.1.0", ".so"})
            if (present(folder / ("libpython" + version + suffix))) return folder / ("libpython" + version + suffix);
    return base / "lib" / ("libpython" + version + ".so");
#endif
}

fs::path find_executable(const fs::path& root, const std::string& version, bool venv) {
    const std::vector<fs::path> candidates =
        kWindows ? std::vector<fs::path>{venv ? root / "Scripts" / "python.exe" : root / "python.exe"}
                 : std::vector<fs::path>{root / "bin" / ("python" + version), root / "bin" / "python3",
                                         root / "bin" / "python"};
    for (const auto& candidate : candidates)
        if (present(candidate)) return candidate;
    return candidates.front();
}

std::vector<fs::path> windows_dll_dirs(const fs::path& root) {
    std::vector<fs::path> dirs;
    for (const char* sub : {"", "Library/bin", "Library/mingw-w64/bin", "Library/usr/bin", "DLLs", "bin", "Scripts"}) {
        const fs::path dir = *sub ? root / sub : root;
        if (present(dir)) dirs.push_back(dir);
    }
    return dirs;
}

void reject_wrong_level(const fs::path& root) {
    const std::string name = root.filename().u8string();
    if (fs::is_regular_file(root) || name == "bin" || name == "Scripts")
        throw HomeError("Python Home " + quoted(root) +
                        " is the python program or its folder, not the environment itself; use " +
                        quoted(root.parent_path()) + " instead");
}

void require_stdlib_and_libpython(const PythonHome& home) {
    const fs::path stdlib = stdlib_dir(home.base, home.version);
    if (!present(stdlib / "os.py")) {
        const bool embeddable = present(home.base / ("python" + compact(home.version) + ".zip"));
        throw HomeError(quoted(home.base) + " has no standard library (" + quoted(stdlib / "os.py") + " is missing)" +
                        (embeddable ? ": it is an embeddable distribution, which cannot host the plugin; "
                                    : "; ") +
                        "install a full Python " + home.version + " or create a conda env");
    }
    if (!present(home.libpython))
        throw HomeError(quoted(home.base) + " has no shared library " + quoted(home.libpython) +
                        ": this Python was built without --enable-shared; use a conda env, or a Python built "
                        "with --enable-shared");
}

void require_numpy(const PythonHome& home) {
    for (const auto& folder : home.site_packages)
        if (present(folder / "numpy" / "__init__.py")) return;
    const std::string fix = home.kind == HomeKind::conda_env
                                ? "conda install -p \"" + home.root.u8string() + "\" numpy"
                                : "\"" + home.executable.u8string() + "\" -m pip install numpy";
    throw HomeError("numpy is not installed in " + quoted(home.root) + "; install it with `" + fix + "`");
}

}  // namespace

std::string PythonHome::config_home() const { return kind == HomeKind::venv ? "" : base.u8string(); }

std::string PythonHome::kind_name() const {
    switch (kind) {
        case HomeKind::conda_env: return "conda env";
        case HomeKind::venv: return "venv";
        default: return "installation";
    }
}

PythonHome inspect_python_home(const fs::path& given) {
    if (given.empty())
        throw HomeError("no Python Home was given; name the folder of a conda env or Python installation "
                        "(`oe-pyproc setup` can create one)");
    if (!present(given))
        throw HomeError("Python Home " + quoted(given) +
                        " does not exist; name the folder of a conda env or Python installation");
    const fs::path root = fs::absolute(given).lexically_normal();
    reject_wrong_level(root);

    PythonHome home;
    home.root = root;
    home.base = root;
    VenvConfig venv;
    if (present(root / "pyvenv.cfg")) {
        home.kind = HomeKind::venv;
        venv = read_pyvenv_cfg(root / "pyvenv.cfg");
        if (venv.home.empty() || !present(venv.home))
            throw HomeError(quoted(root) + " is a virtual environment whose base Python " + quoted(venv.home) +
                            " no longer exists; recreate the venv from an installed Python");
        home.base = kWindows ? venv.home : venv.home.parent_path();
        home.version = venv.version.empty() ? installed_version(home.base) : venv.version;
    } else if (present(root / "conda-meta")) {
        home.kind = HomeKind::conda_env;
        home.version = conda_python_version(root);
        if (home.version.empty())
            throw HomeError(quoted(root) + " is a conda env without Python; install it with `conda install -p \"" +
                            root.u8string() + "\" python=3.10 numpy`");
    } else {
        home.version = installed_version(root);
    }
    if (home.version.empty())
        throw HomeError(quoted(root) + " is not a Python installation (no libpython, standard library or "
                        "pyvenv.cfg found); name the folder of a conda env or Python installation");
    if (!version_at_least(home.version, 3, 8))
        throw HomeError(quoted(root) + " holds Python " + home.version +
                        "; the plugin needs Python 3.8 or newer (3.10 is the supported version)");

    home.libpython = libpython_path(home.base, home.version);
    home.executable = find_executable(root, home.version, home.kind == HomeKind::venv);
    home.site_packages.push_back(stdlib_dir(root, home.version) / "site-packages");
    if (!kWindows && home.kind == HomeKind::installation) {  // Debian-style system Python
        home.site_packages.push_back(root / "lib" / "python3" / "dist-packages");
        home.site_packages.push_back(root / "local" / "lib" / ("python" + home.version) / "dist-packages");
    }
    if (home.kind == HomeKind::venv && venv.system_site_packages)
        home.site_packages.push_back(stdlib_dir(home.base, home.version) / "site-packages");
    if (kWindows) {
        home.dll_dirs = windows_dll_dirs(root);
        if (home.base != root)
            for (const auto& dir : windows_dll_dirs(home.base)) home.dll_dirs.push_back(dir);
    }
    require_stdlib_and_libpython(home);
    require_numpy(home);
    return home;
}

std::string engine_file_name(const std::string& version) {
#if defined(_WIN32)
    return "pyproc_engine_cp" + compact(version) + ".dll";
#elif defined(__APPLE__)
    return "libpyproc_engine_cp" + compact(version) + ".dylib";
#else
    return "libpyproc_engine_cp" + compact(version) + ".so";
#endif
}

fs::path find_engine(const PythonHome& home, const std::vector<fs::path>& extra_dirs) {
    std::vector<fs::path> folders;
    for (const auto& site : home.site_packages) folders.push_back(site / "oe_pyproc" / "engines");
    folders.insert(folders.end(), extra_dirs.begin(), extra_dirs.end());
    const std::string name = engine_file_name(home.version);
    std::string looked;
    for (const auto& folder : folders) {
        if (present(folder / name)) return folder / name;
        looked += (looked.empty() ? "" : ", ") + quoted(folder);
    }
    throw HomeError("no engine for Python " + home.version + " (" + name + ") was found in " + looked +
                    "; install oe-python-processor into " + quoted(home.root) + " (`\"" +
                    home.executable.u8string() + "\" -m pip install oe-python-processor`) or choose a Python "
                    "Home that has it");
}

}  // namespace pyproc::loader
