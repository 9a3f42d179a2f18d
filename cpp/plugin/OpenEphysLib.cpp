// The plugin's entry points, as the GUI's plugin loader reads them.
#include <PluginInfo.h>

#include "PythonProcessor.h"

#ifdef _WIN32
#include <windows.h>
#define PYPROC_PLUGIN_EXPORT __declspec(dllexport)
#else
#define PYPROC_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

#ifndef PYPROC_VERSION
#define PYPROC_VERSION "0.0.0"
#endif

extern "C" PYPROC_PLUGIN_EXPORT void getLibInfo(Plugin::LibraryInfo* info) {
    info->apiVersion = PLUGIN_API_VER;
    info->name = "Python Processor";
    info->libVersion = PYPROC_VERSION;
    info->numPlugins = 1;
}

extern "C" PYPROC_PLUGIN_EXPORT int getPluginInfo(int index, Plugin::PluginInfo* info) {
    if (index != 0) return -1;
    info->type = Plugin::Type::PROCESSOR;
    info->processor.name = "Python Processor";
    info->processor.type = Plugin::Processor::FILTER;
    info->processor.creator = &(Plugin::createProcessor<PythonProcessor>);
    return 0;
}
