#!/usr/bin/env bash
# conda-build runs this in $SRC_DIR with the host env at $PREFIX (meta.yaml's build/script).
# `pip install .` runs CMake through scikit-build-core, as for a wheel: the engine and the
# oe_pyproc, oe_pyprocessor and oe_bootstrap packages into site-packages, pyproc-host into bin/,
# and, with the GUI's source beside ours, the plugin bundle into share/ (docs/recipe.md).
set -euxo pipefail

# scikit-build-core reads $CMAKE_ARGS (conda's toolchain and prefix settings) itself.
export CMAKE_GENERATOR=Ninja
export CMAKE_BUILD_PARALLEL_LEVEL="${CPU_COUNT:-1}"

# meta.yaml's second source unpacks plugin-GUI v1.0.1 here; without it only the plugin is missing.
gui_source="${SRC_DIR}/plugin-GUI"
plugin_args=()
if [[ -f "${gui_source}/Plugins/Headers/ProcessorHeaders.h" ]]; then
    plugin_args=(--config-settings=cmake.define.GUI_BASE_DIR="${gui_source}"
                 --config-settings=cmake.define.PYPROC_PLUGIN_BUNDLE_DIR="${PREFIX}/share/oe-python-processor/plugin-api10")
else
    echo "build.sh: no plugin-GUI source at ${gui_source}: building without the GUI plugin" >&2
fi

# A build folder of its own, so that a developer's build/ in the source tree is never reused.
# (The ${a[@]+...} form keeps an empty array legal under set -u in macOS's bash 3.2.)
"${PYTHON}" -m pip install . --no-deps --no-build-isolation -vv \
    --config-settings=build-dir=build/conda \
    --config-settings=cmake.build-type=Release \
    ${plugin_args[@]+"${plugin_args[@]}"}
