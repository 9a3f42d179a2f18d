// A module's declared parameters (PyProcessor.parameters) as the processor's own GUI parameters:
// the GUI's parameter classes, so they get the GUI's editors, are saved with the chain and answer
// the HTTP API; each change is first checked by the engine, so a refused value never lands.
#pragma once

#include <ProcessorHeaders.h>

#include <functional>

namespace pyproc::plugin {

// Checks a requested value with the engine; "" when taken (it may rewrite the value into the GUI
// parameter's own form, e.g. a choice's name into its index), else the refusal.
using ValueCheck = std::function<String(Parameter* parameter, var& value)>;

// One declaration of the engine's parameters JSON, as the GUI parameter that shows it.
Parameter* createModuleParameter(ParameterOwner* owner, const var& declaration, int numChannels, ValueCheck check);

// A choice of the plugin's own that the HTTP API may set by its name as well as by its index (the GUI's
// own class reads a name as 0); an unknown name is refused and logged.
Parameter* createNamedChoice(ParameterOwner* owner, const String& name, const String& displayName,
                             const String& description, const StringArray& choices, int defaultIndex,
                             bool deactivateDuringAcquisition);

// True if `parameter` was made by createModuleParameter for this declaration: name, type, and a
// number's range or a choice's options (a changed one needs a new GUI parameter).
bool matchesDeclaration(Parameter* parameter, const var& declaration);

// The engine's form of a GUI value (JSON text): a choice's index becomes its name, a channel
// selection its index.
String engineValue(Parameter* parameter, const var& value);

// The GUI parameter's form of an engine value: a choice's name becomes its index, a channel index
// a selection of one.
var guiValue(Parameter* parameter, const var& value);

}  // namespace pyproc::plugin
