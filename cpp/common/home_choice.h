// Which Python Home the plugin uses, in DESIGN.md's order: the saved parameter, the settings file
// `oe-pyproc setup` writes, OE_PYTHON_HOME, a conda env named oe-python-plugin. Asking the user is the
// caller's last step. The same rule as bootstrap/oe_bootstrap/resolve.py (the doctor's prediction):
// both run the cases of tests/data/home_choice_cases.json.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "conda_envs.h"

namespace pyproc::common {

enum class HomeSource { none, saved_parameter, settings_file, environment_variable, conda_env };

struct HomeChoice {
    std::string path;  // empty: nothing found
    HomeSource source = HomeSource::none;
    std::string where;  // the file, variable or env list it came from
};

// The GUI's configs folder: configs-api10 under the saved-state folder, or that folder itself for a GUI
// run from a plugin-GUI/Build folder (as the GUI's CoreServices decides).
std::filesystem::path configs_folder(const std::filesystem::path& saved_state);

// The settings file written by `oe-pyproc setup`, in the configs folder.
std::filesystem::path settings_file(const std::filesystem::path& saved_state);

// The settings file's "python_home", if CONTENT (the file's bytes, a UTF-8 byte-order mark allowed) is a
// JSON object whose "python_home" is a non-empty string.
std::optional<std::string> python_home_in_settings(const std::string& content);

HomeChoice choose_python_home(const std::string& saved_parameter, const std::filesystem::path& saved_state,
                              const CondaWorld& world);

}  // namespace pyproc::common
