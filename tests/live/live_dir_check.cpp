// The engine's live folder rule (cpp/engine/live_ring.cpp) from the command line, for
// tests/test_live.py: live_dir_check PLATFORM UID DEV_SHM(0|1) [NAME=VALUE...] prints the folder.
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

#include "live_ring.h"

int main(int argc, char** argv) {
    if (argc < 4) return 2;
    std::map<std::string, std::string> environ;
    for (int i = 4; i < argc; ++i) {
        const std::string pair = argv[i];
        environ[pair.substr(0, pair.find('='))] = pair.substr(pair.find('=') + 1);
    }
    const auto lookup = [&](const char* name) {
        const auto found = environ.find(name);
        return found == environ.end() ? std::string() : found->second;
    };
    std::cout << pyproc::live::live_dir_rule(argv[1], lookup, std::strtoull(argv[2], nullptr, 10), argv[3][0] == '1')
              << "\n";
}
