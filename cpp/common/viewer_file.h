// viewer.json, in the live folder: the running live viewer (`oe-pyproc view`) writes {"pid", "url"} once it
// serves, and removes it when it stops. Which file names a running viewer is one rule, tested with
// oe_pyproc.live.viewer_url against the cases of tests/data/viewer_file_cases.json.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace pyproc::common {

// The URL of the viewer that TEXT (viewer.json's content) names, if it runs: TEXT is a JSON object whose
// "pid" is an integer from 1 to 2^31-1 for which ALIVE is true, and whose "url" is a string starting with
// http:// or https://. Anything else (not JSON, a stale file of a viewer that was killed) names none.
std::optional<std::string> running_viewer_url(const std::string& text, const std::function<bool(int64_t)>& alive);

}  // namespace pyproc::common
