// A Windows command that explains a Python Home with the loader, as the plugin
// would: `loader_probe.exe C:\path\to\env [engine-dir]`.
#include <iostream>

#include "loader.h"

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: loader_probe PYTHON_HOME [ENGINE_DIR]\n";
        return 2;
    }
    std::vector<std::filesystem::path> engine_dirs;
    if (argc > 2) engine_dirs.push_back(std::filesystem::u8path(argv[2]));
    try {
        const auto& engine = pyproc::loader::load_engine(std::filesystem::u8path(argv[1]), engine_dirs);
        std::cout << "Python " << engine.python_version << " from " << engine.home.root.u8string() << "\n";
        return 0;
    } catch (const pyproc::loader::HomeError& error) {
        std::cerr << error.what() << "\n";
        return 3;
    }
}
