// The plugin's conda env search (cpp/common/conda_envs.h) from the command line, for
// tests/test_conda_rule.py: `find_envs_check` prints every env this process's environment and HOME
// show, as JSON [[name, prefix, source]...]; `find_envs_check --condarc` reads a .condarc's text on
// stdin and prints its envs_dirs as a JSON list.
#include <iostream>
#include <iterator>
#include <string>

#include "conda_envs.h"

namespace {

std::string quoted(const std::string& text) {
    std::string out = "\"";
    for (const char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::string(argv[1]) == "--condarc") {
        const std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
        const char* separator = "";
        std::cout << "[";
        for (const auto& folder : pyproc::common::read_envs_dirs(text)) std::cout << separator << quoted(folder), separator = ", ";
        std::cout << "]\n";
        return 0;
    }
    const char* separator = "";
    std::cout << "[";
    for (const auto& env : pyproc::common::find_conda_envs(pyproc::common::CondaWorld::here())) {
        std::cout << separator << "[" << quoted(env.name) << ", " << quoted(env.prefix) << ", " << quoted(env.source) << "]";
        separator = ", ";
    }
    std::cout << "]\n";
}
