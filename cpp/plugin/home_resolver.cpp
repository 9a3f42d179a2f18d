#include "home_resolver.h"

#include <home_choice.h>

namespace pyproc::plugin {

HomeChoice resolvePythonHome(const juce::String& savedParameter, const juce::File& savedStateFolder) {
    const auto choice = pyproc::common::choose_python_home(
        savedParameter.toStdString(), std::filesystem::u8path(savedStateFolder.getFullPathName().toStdString()),
        pyproc::common::CondaWorld::here());
    return {juce::String::fromUTF8(choice.path.c_str()), juce::String::fromUTF8(choice.where.c_str()),
            juce::String::fromUTF8(choice.settings_problem.c_str())};
}

}  // namespace pyproc::plugin
