// Which Python Home the plugin uses, in DESIGN.md's order: the saved
// parameter, the settings file `oe-pyproc setup` writes, OE_PYTHON_HOME, a conda
// env named oe-python-plugin. Asking the user is the caller's last step.
// Mirrors bootstrap/oe_bootstrap/resolve.py, which the doctor uses to predict it.
#pragma once

#include <JuceHeader.h>

namespace pyproc::plugin {

struct HomeChoice {
    juce::String path;    // empty: nothing found
    juce::String source;  // where it came from, in words
};

// The GUI's configs folder: configs-api10, or the saved-state folder itself
// for a GUI run from plugin-GUI/Build (as CoreServices does).
juce::File configsFolder(const juce::File& savedStateFolder);

// The settings file written by `oe-pyproc setup`.
juce::File settingsFile(const juce::File& savedStateFolder);

HomeChoice resolvePythonHome(const juce::String& savedParameter, const juce::File& savedStateFolder);

}  // namespace pyproc::plugin
