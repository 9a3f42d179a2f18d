from oe_bootstrap.plugins import PluginInstallError, installed_plugin

from ..findings import FAIL, OK, Finding

ID = "plugin-installed"
TITLE = "Plugin installed"


def check(context):
    fix = "oe-pyproc install-plugin   (from this env's package, or --zip PythonProcessor-<os>_<version>-API10.zip)"
    try:
        plugin = installed_plugin(context.gui)
    except PluginInstallError as error:
        return Finding(ID, FAIL, TITLE, str(error), "fix or delete %s, then: %s" % (
            context.gui.installed_plugins_file, fix))
    if plugin is None:
        return Finding(ID, FAIL, TITLE, "no Python Processor in %s" % context.gui.installed_plugins_file, fix)
    if not plugin.exists:
        return Finding(ID, FAIL, TITLE, "installedPlugins.xml lists %s but the file is gone" % plugin.dll_path, fix)
    if plugin.api is not None and plugin.api != context.gui.api:
        return Finding(ID, FAIL, TITLE, "%s is built for Plugin API %d; this GUI loads API %d"
                       % (plugin.dll_path, plugin.api, context.gui.api), fix)
    return Finding(ID, OK, TITLE, "%s %s at %s" % (plugin.name, plugin.version, plugin.dll_path))
