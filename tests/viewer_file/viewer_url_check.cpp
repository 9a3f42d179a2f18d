// The plugin's viewer.json rule (cpp/common/viewer_file.h) from the command line, for
// tests/test_viewer_file_rule.py: `viewer_url_check FILE [PID...]` reads FILE as viewer.json, takes the
// PIDs as the processes alive, and prints the URL of the running viewer it names, or nothing.
#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "viewer_file.h"

int main(int argc, char** argv) {
    if (argc < 2) return 2;
    std::ifstream file(argv[1], std::ios::binary);
    const std::string content((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    std::vector<int64_t> alive;
    for (int i = 2; i < argc; ++i) alive.push_back(std::stoll(argv[i]));
    const auto url = pyproc::common::running_viewer_url(
        content, [&](int64_t pid) { return std::find(alive.begin(), alive.end(), pid) != alive.end(); });
    if (url) std::cout << *url;
    return 0;
}
