// A text the engine returns through a (instance, buffer, length) getter: error_text, warning_text,
// live_status. Asked again while it grew between the call that measured it and the one that copied
// it (a status gains names and digits while the module runs). Shared by the GUI plugin, the host and
// the worker.
#pragma once

#include <string>

#include "pyproc/engine_api.h"

namespace pyproc::common {

// For getters of a const or a mutable instance.
template <class Instance, class Given>
std::string engine_text(size_t (*getter)(Instance*, char*, size_t), Given* instance) {
    std::string text;
    for (size_t length = getter(instance, nullptr, 0);;) {
        text.assign(length + 1, '\0');
        const size_t copied = getter(instance, text.data(), text.size());
        if (copied <= length) return text.substr(0, copied);
        length = copied;
    }
}

}  // namespace pyproc::common
