@echo on
:: conda-build runs this in %SRC_DIR% with the host env at %PREFIX% (meta.yaml's build/script).
:: The same build as build.sh; on Windows the plugin links the GUI's import library
:: open-ephys.lib, so the GUI's executable is built first, and the plugin bundle goes to
:: %LIBRARY_PREFIX%\share, where `oe-pyproc setup` looks for it on Windows (docs/recipe.md).

:: scikit-build-core reads %CMAKE_ARGS% (conda's toolchain and prefix settings) itself.
set CMAKE_GENERATOR=Ninja
set CMAKE_BUILD_PARALLEL_LEVEL=%CPU_COUNT%

:: meta.yaml's second source unpacks plugin-GUI v1.0.1 here; without it only the plugin is missing.
set "GUI_SOURCE=%SRC_DIR%\plugin-GUI"
set "PLUGIN_ARGS="
if not exist "%GUI_SOURCE%\Plugins\Headers\ProcessorHeaders.h" goto no_gui

:: The GUI refuses to be configured anywhere but its own Build folder.
cmake -S "%GUI_SOURCE%" -B "%GUI_SOURCE%\Build" -G Ninja -DCMAKE_BUILD_TYPE=Release
if errorlevel 1 exit 1
cmake --build "%GUI_SOURCE%\Build" --target open-ephys
if errorlevel 1 exit 1
set PLUGIN_ARGS=--config-settings=cmake.define.GUI_BASE_DIR="%GUI_SOURCE%" --config-settings=cmake.define.PYPROC_GUI_IMPORT_LIB="%GUI_SOURCE%\Build\open-ephys.lib" --config-settings=cmake.define.PYPROC_PLUGIN_BUNDLE_DIR="%LIBRARY_PREFIX%\share\oe-python-processor\plugin-api10"
goto build

:no_gui
echo bld.bat: no plugin-GUI source at %GUI_SOURCE%: building without the GUI plugin

:build
:: A build folder of its own, so that a developer's build\ in the source tree is never reused.
"%PYTHON%" -m pip install . --no-deps --no-build-isolation -vv --config-settings=build-dir=build/conda --config-settings=cmake.build-type=Release %PLUGIN_ARGS%
if errorlevel 1 exit 1
