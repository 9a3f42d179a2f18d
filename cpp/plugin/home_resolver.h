// Which Python Home the plugin uses: the rule of cpp/common/home_choice.h (the doctor's too), in JUCE's
// types for the processor.
#pragma once

#include <JuceHeader.h>

namespace pyproc::plugin {

struct HomeChoice {
    juce::String path;    // empty: nothing found
    juce::String source;  // where it came from, in words
    juce::String settingsProblem;  // why the settings file was passed over, if it was
};

HomeChoice resolvePythonHome(const juce::String& savedParameter, const juce::File& savedStateFolder);

}  // namespace pyproc::plugin
