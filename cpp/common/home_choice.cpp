#include "home_choice.h"

#include <fstream>
#include <iterator>
#include <stdexcept>

#include "json.h"

namespace pyproc::common {

namespace {

constexpr const char* kEnvName = "oe-python-plugin";
constexpr const char* kSettingsName = "python-processor.json";

std::filesystem::path configs_folder(const std::filesystem::path& saved_state) {
    const std::filesystem::path::string_type build =
        (std::filesystem::path("plugin-GUI") / "Build").native();  // with the platform's separator
    if (saved_state.native().find(build) != std::filesystem::path::string_type::npos) return saved_state;
    return saved_state / "configs-api10";
}

// The settings file's "python_home" when it names one; else nothing, and *problem says why not where the
// file is at fault.
std::optional<std::string> python_home_in_settings(const std::filesystem::path& path, std::string* problem) {
    std::ifstream file(path, std::ios::binary);
    std::string content(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>{});
    const std::string fix = "; fix it or delete it, then run `oe-pyproc setup` again";
    if (file.bad() || !file.is_open()) {
        *problem = path.u8string() + " cannot be read" + fix;
        return std::nullopt;
    }
    const std::string bom = "\xEF\xBB\xBF";  // Windows Notepad saves one
    if (content.rfind(bom, 0) == 0) content.erase(0, bom.size());
    JsonValue settings;
    try {
        settings = parse_json(content, path.u8string());
    } catch (const std::runtime_error& error) {
        *problem = std::string(error.what()) + " (not valid JSON)" + fix;
        return std::nullopt;
    }
    if (!settings.is_object()) {
        *problem = path.u8string() + " should hold a JSON object ({...})" + fix;
        return std::nullopt;
    }
    const JsonValue* home = settings.find("python_home");
    if (!home || home->is_null() || (home->is_string() && home->as_string().empty())) return std::nullopt;
    if (!home->is_string()) {
        *problem = path.u8string() + ": python_home should be a folder's path (a string); ignored";
        return std::nullopt;
    }
    return home->as_string();
}

}  // namespace

HomeChoice choose_python_home(const std::string& saved_parameter, const std::filesystem::path& saved_state,
                              const CondaWorld& world) {
    if (!saved_parameter.empty()) return {saved_parameter, HomeSource::saved_parameter, "the signal chain", {}};
    const std::filesystem::path settings = configs_folder(saved_state) / kSettingsName;
    std::string problem;
    std::error_code error;
    if (std::filesystem::is_regular_file(settings, error))
        if (const auto home = python_home_in_settings(settings, &problem))
            return {*home, HomeSource::settings_file, settings.u8string(), {}};
    const std::string variable = world.getenv("OE_PYTHON_HOME");
    if (!variable.empty()) return {variable, HomeSource::environment_variable, "OE_PYTHON_HOME", problem};
    if (const auto env = find_conda_env(kEnvName, world))
        return {env->prefix, HomeSource::conda_env,
                std::string("the conda env ") + kEnvName + " (from " + env->source + ")", problem};
    return {{}, HomeSource::none, {}, problem};
}

}  // namespace pyproc::common
