// Where this plugin's own file is: its engines sit in a shared folder beside it.
#pragma once

#include <filesystem>
#include <vector>

namespace pyproc::plugin {

std::filesystem::path pluginFile();

// Folders holding engines for the plugin, besides the Python Home itself:
// the Plugin Installer's shared-api10/python-processor (or a build tree's
// shared/python-processor) next to the plugin folder, and the given shared folder.
std::vector<std::filesystem::path> engineFolders(const std::filesystem::path& savedStateShared);

}  // namespace pyproc::plugin
