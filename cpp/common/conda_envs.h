// Every conda env one user's conda would list, found as bootstrap/oe_bootstrap/conda.py finds them
// (environments.txt, envs_dirs of every .condarc, CONDA_ENVS_PATH, each installation's envs/,
// ~/.conda/envs, the installations themselves, CONDA_PREFIX), so that the env `oe-pyproc setup` and
// the doctor name is the env the GUI plugin loads. Both sides are tested against one table of cases
// (tests/data/conda_env_cases.json). Standard C++ only: the plugin, the host and tests link it.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace pyproc::common {

struct CondaEnv {
    std::string name;
    std::string prefix;
    std::string source;  // "environments.txt", a .condarc's path, "CONDA_ENVS_PATH", "CONDA_PREFIX"...
};

// What the search reads of the process: its environment variables and the user's home folder.
struct CondaWorld {
    std::function<std::string(const char*)> getenv;  // "" when unset
    std::string home;
    static CondaWorld here();
};

std::vector<CondaEnv> find_conda_envs(const CondaWorld& world);
std::optional<CondaEnv> find_conda_env(const std::string& name, const CondaWorld& world);

// `envs_dirs` (or its alias `envs_path`) of a .condarc's text, as a block or a flow list.
std::vector<std::string> read_envs_dirs(const std::string& condarc_text);

}  // namespace pyproc::common
