#include "home_resolver.h"

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

// The same install folders as bootstrap/oe_bootstrap/folders.py.
juce::Array<juce::File> condaInstallFolders() {
    const juce::File home = juce::File::getSpecialLocation(juce::File::userHomeDirectory);
    juce::Array<juce::File> roots{home};
#if JUCE_WINDOWS
    const juce::File local = juce::File::getSpecialLocation(juce::File::windowsLocalAppData);
    roots.add(local);
    roots.add(local.getChildFile("Continuum"));
    roots.add(juce::File(environmentVariable("ProgramData").isEmpty() ? "C:\\ProgramData" : environmentVariable("ProgramData")));
    roots.add(juce::File(environmentVariable("ProgramFiles").isEmpty() ? "C:\\Program Files" : environmentVariable("ProgramFiles")));
#elif JUCE_MAC
    roots.add(juce::File("/opt"));
    roots.add(juce::File("/usr/local"));
#else
    roots.add(juce::File("/opt"));
    roots.add(juce::File("/usr/local"));
#endif
    juce::Array<juce::File> installs;
    for (const auto& root : roots)
        for (const char* name : {"miniforge3", "mambaforge", "miniconda3", "anaconda3", "micromamba"}) {
            installs.add(root.getChildFile(name));
            installs.add(root.getChildFile(juce::String(name).substring(0, 1).toUpperCase() + juce::String(name).substring(1)));
        }
#if JUCE_MAC
    installs.add(juce::File("/opt/homebrew/Caskroom/miniforge/base"));
#endif
    installs.add(home.getChildFile(".local/share/mamba"));
    for (const char* variable : {"MAMBA_ROOT_PREFIX", "CONDA_ROOT"})
        if (environmentVariable(variable).isNotEmpty()) installs.add(juce::File(environmentVariable(variable)));
    // CONDA_EXE is <base>/bin/conda or <base>\Scripts\conda.exe.
    if (environmentVariable("CONDA_EXE").isNotEmpty())
        installs.add(juce::File(environmentVariable("CONDA_EXE")).getParentDirectory().getParentDirectory());
    return installs;
}

bool isEnv(const juce::File& folder) { return folder.getChildFile("conda-meta").isDirectory(); }

}  // namespace

juce::File configsFolder(const juce::File& savedStateFolder) {
    const juce::String buildFolder = "plugin-GUI" + juce::File::getSeparatorString() + "Build";
    if (savedStateFolder.getFullPathName().contains(buildFolder)) return savedStateFolder;
    return savedStateFolder.getChildFile("configs-api10");
}

juce::File settingsFile(const juce::File& savedStateFolder) {
    return configsFolder(savedStateFolder).getChildFile("python-processor.json");
}

juce::Array<juce::File> condaEnvsNamed(const juce::String& name) {
    juce::Array<juce::File> envs;
    auto add = [&](const juce::File& folder) {
        if (folder.getFileName() == name && isEnv(folder) && !envs.contains(folder)) envs.add(folder);
    };
    // Every env conda ever created is listed here, wherever its envs_dirs were.
    const juce::File registry =
        juce::File::getSpecialLocation(juce::File::userHomeDirectory).getChildFile(".conda/environments.txt");
    juce::StringArray lines;
    if (registry.existsAsFile()) registry.readLines(lines);
    for (const auto& line : lines)
        if (line.trim().isNotEmpty()) add(juce::File(line.trim()));
    add(juce::File::getSpecialLocation(juce::File::userHomeDirectory).getChildFile(".conda/envs").getChildFile(name));
    for (const auto& install : condaInstallFolders()) add(install.getChildFile("envs").getChildFile(name));
    return envs;
}

HomeChoice resolvePythonHome(const juce::String& savedParameter, const juce::File& savedStateFolder) {
    if (savedParameter.isNotEmpty()) return {savedParameter, "the signal chain"};
    const juce::File settings = settingsFile(savedStateFolder);
    const juce::String fromSetup = fromSettingsFile(settings);
    if (fromSetup.isNotEmpty()) return {fromSetup, settings.getFullPathName()};
    const juce::String fromVariable = environmentVariable("OE_PYTHON_HOME");
    if (fromVariable.isNotEmpty()) return {fromVariable, "OE_PYTHON_HOME"};
    const auto envs = condaEnvsNamed(envName);
    if (!envs.isEmpty()) return {envs.getFirst().getFullPathName(), juce::String("the conda env ") + envName};
    return {};
}

}  // namespace pyproc::plugin
