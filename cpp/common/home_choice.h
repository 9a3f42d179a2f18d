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
    // Why the settings file, which exists, was passed over (malformed, unreadable, a python_home that is
    // not a path), in words; empty when it named the home or names none. The doctor notes the same files.
    std::string settings_problem;
};

// The settings file `oe-pyproc setup` writes is python-processor.json in the GUI's configs folder:
// configs-api10 under the saved-state folder, or that folder itself for a GUI run from a
// plugin-GUI/Build folder (as the GUI's CoreServices decides). A UTF-8 byte-order mark is allowed.
HomeChoice choose_python_home(const std::string& saved_parameter, const std::filesystem::path& saved_state,
                              const CondaWorld& world);

}  // namespace pyproc::common
