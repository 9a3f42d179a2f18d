#include "home_choice.h"

#include <fstream>
#include <iterator>
#include <stdexcept>

#include "json.h"

namespace pyproc::common {

namespace {

constexpr const char* kEnvName = "oe-python-plugin";
constexpr const char* kSettingsName = "python-processor.json";

std::string read_file(const std::filesystem::path& path) {
    std::ifstream file(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

}  // namespace

std::filesystem::path configs_folder(const std::filesystem::path& saved_state) {
    const std::filesystem::path::string_type build =
        (std::filesystem::path("plugin-GUI") / "Build").native();  // with the platform's separator
    if (saved_state.native().find(build) != std::filesystem::path::string_type::npos) return saved_state;
    return saved_state / "configs-api10";
}

std::filesystem::path settings_file(const std::filesystem::path& saved_state) {
    return configs_folder(saved_state) / kSettingsName;
}

std::optional<std::string> python_home_in_settings(const std::string& content) {
    const std::string bom = "\xEF\xBB\xBF";  // Windows Notepad saves one
    const std::string text = content.rfind(bom, 0) == 0 ? content.substr(bom.size()) : content;
    JsonValue settings;
    try {
        settings = parse_json(text, kSettingsName);
    } catch (const std::runtime_error&) {
        return std::nullopt;
    }
    const JsonValue* home = settings.find("python_home");
    if (!home || !home->is_string() || home->as_string().empty()) return std::nullopt;
    return home->as_string();
}

HomeChoice choose_python_home(const std::string& saved_parameter, const std::filesystem::path& saved_state,
                              const CondaWorld& world) {
    if (!saved_parameter.empty()) return {saved_parameter, HomeSource::saved_parameter, "the signal chain"};
    const std::filesystem::path settings = settings_file(saved_state);
    std::error_code error;
    if (std::filesystem::is_regular_file(settings, error))
        if (const auto home = python_home_in_settings(read_file(settings)))
            return {*home, HomeSource::settings_file, settings.u8string()};
    const std::string variable = world.getenv("OE_PYTHON_HOME");
    if (!variable.empty()) return {variable, HomeSource::environment_variable, "OE_PYTHON_HOME"};
    if (const auto env = find_conda_env(kEnvName, world))
        return {env->prefix, HomeSource::conda_env, std::string("the conda env ") + kEnvName + " (from " + env->source + ")"};
    return {};
}

}  // namespace pyproc::common
