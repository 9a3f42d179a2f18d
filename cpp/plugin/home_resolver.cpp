#include "home_resolver.h"

#include <conda_envs.h>

namespace pyproc::plugin {

namespace {

const char* const envName = "oe-python-plugin";

juce::String environmentVariable(const char* name) {
    return juce::SystemStats::getEnvironmentVariable(name, {});
}

juce::String fromSettingsFile(const juce::File& file) {
    if (!file.existsAsFile()) return {};
    const juce::var settings = juce::JSON::parse(file);
    return settings.getProperty("python_home", juce::var()).toString();
}

}  // namespace

juce::File configsFolder(const juce::File& savedStateFolder) {
    const juce::String buildFolder = "plugin-GUI" + juce::File::getSeparatorString() + "Build";
    if (savedStateFolder.getFullPathName().contains(buildFolder)) return savedStateFolder;
    return savedStateFolder.getChildFile("configs-api10");
}

juce::File settingsFile(const juce::File& savedStateFolder) {
    return configsFolder(savedStateFolder).getChildFile("python-processor.json");
}

HomeChoice resolvePythonHome(const juce::String& savedParameter, const juce::File& savedStateFolder) {
    if (savedParameter.isNotEmpty()) return {savedParameter, "the signal chain"};
    const juce::File settings = settingsFile(savedStateFolder);
    const juce::String fromSetup = fromSettingsFile(settings);
    if (fromSetup.isNotEmpty()) return {fromSetup, settings.getFullPathName()};
    const juce::String fromVariable = environmentVariable("OE_PYTHON_HOME");
    if (fromVariable.isNotEmpty()) return {fromVariable, "OE_PYTHON_HOME"};
    // The env `oe-pyproc setup` and the doctor find: one rule (cpp/common/conda_envs.h, bootstrap's conda.py).
    if (const auto env = pyproc::common::find_conda_env(envName, pyproc::common::CondaWorld::here()))
        return {juce::String::fromUTF8(env->prefix.c_str()),
                juce::String("the conda env ") + envName + " (from " + juce::String::fromUTF8(env->source.c_str()) + ")"};
    return {};
}

}  // namespace pyproc::plugin
