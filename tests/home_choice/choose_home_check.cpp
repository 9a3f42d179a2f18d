// The plugin's Python Home rule (cpp/common/home_choice.h) from the command line, for
// tests/test_home_choice_rule.py: `choose_home_check SAVED_STATE_FOLDER` prints, as JSON
// [path or null, source, where, why the settings file was passed over], the home this process's environment and HOME give, with no saved parameter.
#include <iostream>
#include <string>

#include "home_choice.h"
#include "json.h"

namespace {

const char* source_name(pyproc::common::HomeSource source) {
    switch (source) {
        case pyproc::common::HomeSource::saved_parameter: return "saved chain";
        case pyproc::common::HomeSource::settings_file: return "settings file";
        case pyproc::common::HomeSource::environment_variable: return "OE_PYTHON_HOME";
        case pyproc::common::HomeSource::conda_env: return "conda env oe-python-plugin";
        case pyproc::common::HomeSource::none: break;
    }
    return "none";
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) return 2;
    const auto choice = pyproc::common::choose_python_home("", std::filesystem::u8path(argv[1]),
                                                           pyproc::common::CondaWorld::here());
    using pyproc::common::JsonValue;
    std::cout << JsonValue(JsonValue::Array{choice.path.empty() ? JsonValue() : JsonValue(choice.path), source_name(choice.source),
                                        choice.where, choice.settings_problem}).dump() << "\n";
}
