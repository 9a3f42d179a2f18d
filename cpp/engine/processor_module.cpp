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
    // Every member's text is the runtime's API_DOCS, which the stand-in shows too (pybind11 copies them).
    const py::dict docs = pyproc::engine::runtime().attr("API_DOCS");
    const auto doc = [&docs](const char* name) { return docs[name].cast<std::string>(); };
    m.doc() = doc("module");
    py::class_<ProcessorHandle>(m, "PythonProcessor")
        .def(
            "add_python_event",
            [](const ProcessorHandle& self, py::object line, py::object state, py::object sample_offset) {
                instance_of(self)->add_python_event(line, state, sample_offset);
            },
            py::arg("line"), py::arg("state"), py::arg("sample_offset") = 0, doc("add_python_event").c_str())
        .def(
            "add_python_spike",
            [](const ProcessorHandle& self, py::object sample_number, py::object waveform, py::object sorted_id,
               py::object electrode) { instance_of(self)->add_python_spike(sample_number, waveform, sorted_id, electrode); },
            py::arg("sample_number"), py::arg("waveform"), py::arg("sorted_id") = 0,
            py::arg("electrode") = "Python Spikes", doc("add_python_spike").c_str())
        .def(
            "publish",
            [](const ProcessorHandle& self, py::object name, py::object value, py::object x) {
                instance_of(self)->publish(name, value, x);
            },
            py::arg("name"), py::arg("value"), py::arg("x") = py::none(), doc("publish").c_str())
        .def_property_readonly(
            "num_channels", [](const ProcessorHandle& self) { return instance_of(self)->num_channels(); },
            doc("num_channels").c_str())
        .def_property_readonly(
            "sample_rate", [](const ProcessorHandle& self) { return instance_of(self)->sample_rate(); },
            doc("sample_rate").c_str())
        .def_property_readonly(
            "derived", [](const ProcessorHandle& self) { return instance_of(self)->derived(); }, doc("derived").c_str())
        .def_property_readonly(
            "params", [](const ProcessorHandle& self) { return instance_of(self)->params(); }, doc("params").c_str());
    // The parameter types a PyProcessor declares in its `parameters` list, and Derived for its
    // `derived_channels` (the runtime's classes, src/oe_pyprocessor/_runtime).
    for (const char* name : {"Float", "Int", "Bool", "Choice", "String", "Channel", "Parameter", "ParameterError", "Parameters",
                             "Derived", "DerivedChannels"})
        m.attr(name) = pyproc::engine::runtime().attr(name);
}
