// The embedded module `oe_pyprocessor`: the type of the `processor` object that
// PyProcessor receives, through which Python sends events and spikes to the chain.
#include <pybind11/embed.h>

#include "instance.h"
#include "interpreter.h"

namespace py = pybind11;
using pyproc::engine::Instance;
using pyproc::engine::ProcessorHandle;

namespace {

// The handle's instance, held for the whole call (Instance::of_handle raises when it is gone or reloaded).
std::shared_ptr<Instance> instance_of(const ProcessorHandle& handle) { return Instance::of_handle(handle); }

}  // namespace

PYBIND11_EMBEDDED_MODULE(oe_pyprocessor, m) {
    m.doc() = "The Python Processor's link back to the Open Ephys signal chain.";
    py::class_<ProcessorHandle>(m, "PythonProcessor")
        .def(
            "add_python_event",
            [](const ProcessorHandle& self, py::object line, py::object state, py::object sample_offset) {
                instance_of(self)->add_python_event(line, state, sample_offset);
            },
            py::arg("line"), py::arg("state"), py::arg("sample_offset") = 0,
            "Sends a TTL event on `line` (0-255) with `state` (True = on) at `sample_offset` "
            "samples into the current buffer.")
        .def(
            "add_python_spike",
            [](const ProcessorHandle& self, py::object sample_number, py::object waveform, py::object sorted_id,
               py::object electrode) { instance_of(self)->add_python_spike(sample_number, waveform, sorted_id, electrode); },
            py::arg("sample_number"), py::arg("waveform"), py::arg("sorted_id") = 0,
            py::arg("electrode") = "Python Spikes",
            "Sends a spike at `sample_number` with `waveform` (channels x samples, microvolts) and an "
            "optional `sorted_id` (0-65535).")
        .def(
            "publish",
            [](const ProcessorHandle& self, py::object name, py::object value, py::object x) {
                instance_of(self)->publish(name, value, x);
            },
            py::arg("name"), py::arg("value"), py::arg("x") = py::none(),
            "Publishes `value` under `name` for the live viewer, stamped with the current buffer's first "
            "sample number: a number (a strip chart), a 1-D array (a curve, with optional `x`), a 2-D array "
            "(an image) or an (H, W, 3|4) uint8 picture.")
        .def_property_readonly("num_channels", [](const ProcessorHandle& self) { return instance_of(self)->num_channels(); })
        .def_property_readonly("sample_rate", [](const ProcessorHandle& self) { return instance_of(self)->sample_rate(); })
        .def_property_readonly(
            "derived", [](const ProcessorHandle& self) { return instance_of(self)->derived(); },
            "The module's derived channels (PyProcessor.derived_channels) for the current buffer: a float32 "
            "array of the buffer's length per name, derived['name'] or derived.name; write into it in process().")
        .def_property_readonly(
            "params", [](const ProcessorHandle& self) { return instance_of(self)->params(); },
            "The module's parameters' current values: params.threshold or params['threshold'].");
    // The parameter types a PyProcessor declares in its `parameters` list, and Derived for its
    // `derived_channels` (the runtime's classes, src/oe_pyprocessor/_runtime).
    for (const char* name : {"Float", "Int", "Bool", "Choice", "String", "Channel", "Parameter", "ParameterError", "Parameters",
                             "Derived", "DerivedChannels"})
        m.attr(name) = pyproc::engine::runtime().attr(name);
}
