#include "conda_envs.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#if defined(_WIN32)
#else
#include <unistd.h>
#endif

namespace fs = std::filesystem;

namespace pyproc::common {

namespace {

#if defined(_WIN32)
constexpr bool kWindows = true;
constexpr char kPathSeparator = ';';
#else
constexpr bool kWindows = false;
constexpr char kPathSeparator = ':';
#endif
#if defined(__APPLE__)
constexpr bool kMacOS = true;
#else
constexpr bool kMacOS = false;
#endif

const char* const kFrontends[] = {"micromamba", "mamba", "conda"};
const char* const kDistributions[] = {"miniforge3", "mambaforge", "miniconda3", "anaconda3", "micromamba"};

std::string join(const std::string& base, const std::string& part) { return (fs::u8path(base) / fs::u8path(part)).u8string(); }

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

// As Python's os.path.normcase(os.path.normpath()): the key two paths are the same by.
std::string path_key(const std::string& path) {
    std::string key = fs::u8path(path).lexically_normal().u8string();
    while (key.size() > 1 && (key.back() == '/' || key.back() == '\\')) key.pop_back();
    return kWindows ? lower(key) : key;
}

bool is_dir(const std::string& path) {
    std::error_code error;
    return fs::is_directory(fs::u8path(path), error);
}

bool is_file(const std::string& path) {
    std::error_code error;
    return fs::is_regular_file(fs::u8path(path), error);
}

bool is_executable(const std::string& path) {
#if defined(_WIN32)
    return is_file(path);
#else
    return is_file(path) && access(path.c_str(), X_OK) == 0;
#endif
}

std::string capitalized(std::string name) {
    if (!name.empty()) name[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(name[0])));
    return name;
}

std::string file_name(const std::string& path) { return fs::u8path(path).filename().u8string(); }
std::string parent(const std::string& path) { return fs::u8path(path).parent_path().u8string(); }

std::vector<std::string> split(const std::string& text, char separator) {
    std::vector<std::string> parts;
    std::string part;
    std::istringstream in(text);
    while (std::getline(in, part, separator))
        if (!part.empty()) parts.push_back(part);
    return parts;
}

template <class Item, class Key>
std::vector<Item> unique_by_path(const std::vector<Item>& items, Key key) {
    std::set<std::string> seen;
    std::vector<Item> result;
    for (const auto& item : items)
        if (seen.insert(path_key(key(item))).second) result.push_back(item);
    return result;
}

std::vector<std::string> executable_names(const std::string& kind) {
    if (kWindows) return {kind + ".exe", kind + ".bat"};
    return {kind};
}

// Default installation folders of each distribution, per user and for all users (folders.py).
std::vector<std::string> install_candidates(const CondaWorld& world) {
    std::vector<std::string> roots{world.home};
    if (kWindows) {
        const std::string local = world.getenv("LOCALAPPDATA").empty() ? join(join(world.home, "AppData"), "Local")
                                                                        : world.getenv("LOCALAPPDATA");
        roots.push_back(local);
        roots.push_back(join(local, "Continuum"));
        roots.push_back(world.getenv("ProgramData").empty() ? "C:\\ProgramData" : world.getenv("ProgramData"));
        roots.push_back(world.getenv("ProgramFiles").empty() ? "C:\\Program Files" : world.getenv("ProgramFiles"));
    } else if (kMacOS) {
        roots.insert(roots.end(), {"/opt", "/opt/homebrew/Caskroom/miniforge/base", "/usr/local"});
    } else {
        roots.insert(roots.end(), {"/opt", "/usr/local"});
    }
    std::vector<std::string> candidates;
    for (const auto& root : roots) {
        if (root.size() >= 4 && root.compare(root.size() - 4, 4, "base") == 0) {
            candidates.push_back(root);
            continue;
        }
        for (const char* name : kDistributions) candidates.push_back(join(root, name));
        for (const char* name : kDistributions) candidates.push_back(join(root, capitalized(name)));
    }
    if (!kWindows) candidates.push_back(join(join(join(world.home, ".local"), "share"), "mamba"));
    candidates.push_back(join(world.home, "micromamba"));
    return unique_by_path(candidates, [](const std::string& path) { return path; });
}

// Where the conda, mamba and micromamba executables were found (conda.py's find_frontends).
std::vector<std::string> frontend_paths(const CondaWorld& world, const std::vector<std::string>& candidates) {
    std::vector<std::string> found;
    for (const char* variable : {"MAMBA_EXE", "CONDA_EXE"})
        if (!world.getenv(variable).empty() && is_file(world.getenv(variable))) found.push_back(world.getenv(variable));
    const std::string path = world.getenv("PATH");
    for (const char* kind : kFrontends)
        for (const auto& folder : split(path, kPathSeparator)) {
            const auto names = executable_names(kind);
            const auto hit = std::find_if(names.begin(), names.end(),
                                          [&](const std::string& name) { return is_executable(join(folder, name)); });
            if (hit != names.end()) {
                found.push_back(join(folder, *hit));
                break;
            }
        }
    const std::vector<std::string> subfolders =
        kWindows ? std::vector<std::string>{"condabin", "Scripts", "Library\\bin", ""} : std::vector<std::string>{"condabin", "bin"};
    for (const auto& base : candidates)
        for (const char* kind : kFrontends)
            for (const auto& sub : subfolders)
                for (const auto& name : executable_names(kind)) {
                    const std::string candidate = sub.empty() ? join(base, name) : join(join(base, sub), name);
                    if (is_file(candidate)) found.push_back(candidate);
                }
    return unique_by_path(found, [](const std::string& item) { return item; });
}

std::vector<std::string> installation_bases(const CondaWorld& world) {
    const std::vector<std::string> candidates = install_candidates(world);
    std::vector<std::string> bases;
    for (const auto& candidate : candidates)
        if (is_dir(candidate)) bases.push_back(candidate);
    for (const auto& frontend : frontend_paths(world, candidates)) {
        const std::string folder = parent(frontend);
        const std::string name = lower(file_name(folder));
        if (name == "bin" || name == "condabin" || name == "scripts") bases.push_back(parent(folder));
    }
    for (const char* variable : {"CONDA_ROOT", "MAMBA_ROOT_PREFIX"})
        if (!world.getenv(variable).empty()) bases.push_back(world.getenv(variable));
    return unique_by_path(bases, [](const std::string& path) { return path; });
}

std::vector<std::string> condarc_files(const CondaWorld& world, const std::vector<std::string>& bases) {
    std::vector<std::string> files;
    if (kWindows)
        files = {"C:\\ProgramData\\conda\\.condarc", "C:\\ProgramData\\conda\\condarc"};
    else
        files = {"/etc/conda/.condarc", "/etc/conda/condarc", "/var/lib/conda/.condarc"};
    for (const auto& base : bases) files.push_back(join(base, ".condarc"));
    const std::string config_home =
        world.getenv("XDG_CONFIG_HOME").empty() ? join(world.home, ".config") : world.getenv("XDG_CONFIG_HOME");
    files.push_back(join(join(config_home, "conda"), ".condarc"));
    files.push_back(join(join(join(world.home, ".config"), "conda"), ".condarc"));
    files.push_back(join(join(world.home, ".conda"), ".condarc"));
    files.push_back(join(world.home, ".condarc"));
    if (!world.getenv("CONDARC").empty()) files.push_back(world.getenv("CONDARC"));
    return unique_by_path(files, [](const std::string& path) { return path; });
}

std::string read_text(const std::string& path) {
    std::ifstream in(fs::u8path(path), std::ios::binary);
    if (!in) return {};
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::string trimmed(const std::string& text, const char* characters = " \t\r\n") {
    const size_t first = text.find_first_not_of(characters);
    if (first == std::string::npos) return {};
    return text.substr(first, text.find_last_not_of(characters) - first + 1);
}

std::string scalar(const std::string& text) { return trimmed(trimmed(text), "'\""); }

std::string without_comment(const std::string& text) {
    static const std::regex comment(R"((^|\s)#.*$)");
    return std::regex_replace(text, comment, "");
}

// ~ and $VAR, ${VAR}, %VAR% in an envs_dirs entry, as conda expands them.
std::string expand(const CondaWorld& world, std::string path) {
    path = trimmed(trimmed(path), "'\"");
    if (!path.empty() && path[0] == '~') path = world.home + path.substr(1);
    static const std::regex variable(R"(\$\{?(\w+)\}?|%(\w+)%)");
    std::string result;
    auto last = path.cbegin();
    for (std::sregex_iterator it(path.begin(), path.end(), variable), end; it != end; ++it) {
        const std::string name = (*it)[1].matched ? (*it)[1].str() : (*it)[2].str();
        const std::string value = world.getenv(name.c_str());
        result.append(last, (*it)[0].first);
        result += value.empty() ? (*it)[0].str() : value;
        last = (*it)[0].second;
    }
    return result.append(last, path.cend());
}

std::vector<std::string> subfolders(const std::string& folder) {
    std::vector<std::string> found;
    std::error_code error;
    for (fs::directory_iterator it(fs::u8path(folder), error), end; !error && it != end; it.increment(error)) {
        std::error_code kind_error;
        if (it->is_directory(kind_error)) found.push_back(it->path().u8string());
    }
    std::sort(found.begin(), found.end());
    return found;
}

std::vector<std::string> lines_of(const std::string& path) {
    std::vector<std::string> lines;
    std::istringstream in(read_text(path));
    for (std::string line; std::getline(in, line);) {
        const std::string stripped = trimmed(line);
        if (!stripped.empty() && line[0] != '#') lines.push_back(stripped);
    }
    return lines;
}

CondaEnv env_at(std::string prefix, const std::string& source) {
    while (prefix.size() > 1 && (prefix.back() == '/' || prefix.back() == '\\')) prefix.pop_back();
    std::string name = source == "installation" ? "base" : file_name(prefix);
    if (file_name(parent(prefix)) != "envs" && is_dir(join(prefix, "envs"))) name = "base";
    return {name, prefix, source};
}

}  // namespace

CondaWorld CondaWorld::here() {
    CondaWorld world;
    world.getenv = [](const char* name) {
        const char* value = std::getenv(name);
        return std::string(value ? value : "");
    };
#if defined(_WIN32)
    world.home = world.getenv("USERPROFILE");
#else
    world.home = world.getenv("HOME");
#endif
    return world;
}

std::vector<std::string> read_envs_dirs(const std::string& condarc_text) {
    static const std::regex key(R"(^(envs_dirs|envs_path)\s*:\s*(.*)$)");
    std::vector<std::string> lines;
    std::istringstream in(condarc_text);
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        lines.push_back(line);
    }
    std::vector<std::string> result;
    for (size_t index = 0; index < lines.size(); ++index) {
        std::smatch match;
        if (!std::regex_match(lines[index], match, key)) continue;
        const std::string rest = trimmed(without_comment(match[2].str()));
        if (!rest.empty() && rest[0] == '[') {
            for (const auto& part : split(trimmed(rest, "[]"), ','))
                if (!scalar(part).empty()) result.push_back(scalar(part));
            continue;
        }
        for (size_t next = index + 1; next < lines.size(); ++next) {
            const std::string stripped = trimmed(without_comment(lines[next]));
            if (stripped.empty()) continue;
            if (stripped.rfind("- ", 0) != 0 && stripped != "-") break;
            const std::string value = scalar(stripped.substr(1));
            if (!value.empty()) result.push_back(value);
        }
    }
    return result;
}

std::vector<CondaEnv> find_conda_envs(const CondaWorld& world) {
    const std::vector<std::string> bases = installation_bases(world);
    std::vector<CondaEnv> candidates;
    for (const auto& prefix : lines_of(join(join(world.home, ".conda"), "environments.txt")))
        candidates.push_back(env_at(prefix, "environments.txt"));
    std::vector<std::pair<std::string, std::string>> envs_dirs;  // folder, where it was named
    for (const auto& condarc : condarc_files(world, bases))
        for (const auto& folder : read_envs_dirs(read_text(condarc))) envs_dirs.emplace_back(folder, condarc);
    for (const auto& folder : split(world.getenv("CONDA_ENVS_PATH"), kPathSeparator))
        envs_dirs.emplace_back(folder, "CONDA_ENVS_PATH");
    for (const auto& base : bases) envs_dirs.emplace_back(join(base, "envs"), base);
    envs_dirs.emplace_back(join(join(world.home, ".conda"), "envs"), "~/.conda/envs");
    for (const auto& [folder, source] : envs_dirs)
        for (const auto& path : subfolders(expand(world, folder))) candidates.push_back(env_at(path, source));
    for (const auto& base : bases) candidates.push_back(env_at(base, "installation"));
    if (!world.getenv("CONDA_PREFIX").empty()) candidates.push_back(env_at(world.getenv("CONDA_PREFIX"), "CONDA_PREFIX"));
    std::vector<CondaEnv> present;
    for (const auto& env : candidates)
        if (is_dir(join(env.prefix, "conda-meta"))) present.push_back(env);
    return unique_by_path(present, [](const CondaEnv& env) { return env.prefix; });
}

std::optional<CondaEnv> find_conda_env(const std::string& name, const CondaWorld& world) {
    for (const auto& env : find_conda_envs(world))
        if (env.name == name) return env;
    return std::nullopt;
}

}  // namespace pyproc::common
