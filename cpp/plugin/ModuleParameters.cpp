#include "ModuleParameters.h"

#include <cmath>
#include <utility>

namespace pyproc::plugin {

namespace {

// Marks the parameters made here, so they are told from the plugin's own.
struct ModuleParameter {
    virtual ~ModuleParameter() = default;
};

// A GUI parameter whose changes the engine checks first: a refused value is logged and never set
// (the GUI's own classes would clamp it, or drop it without a word).
template <class Base>
class Checked : public Base, public ModuleParameter {
public:
    template <class... Args>
    explicit Checked(ValueCheck check, Args&&... args) : Base(std::forward<Args>(args)...), check_(std::move(check)) {}

    void setNextValue(var value, bool undoable = true) override {
        const String refusal = check_(this, value);
        if (refusal.isNotEmpty()) {
            LOGE("Python Processor: ", refusal);
            return;
        }
        Base::setNextValue(value, undoable);
    }

private:
    ValueCheck check_;
};

const std::map<String, Parameter::ParameterType> kTypes = {
    {"float", Parameter::FLOAT_PARAM},       {"int", Parameter::INT_PARAM},
    {"bool", Parameter::BOOLEAN_PARAM},      {"choice", Parameter::CATEGORICAL_PARAM},
    {"string", Parameter::STRING_PARAM},     {"channel", Parameter::SELECTED_CHANNELS_PARAM}};

StringArray options(const var& declaration) {
    StringArray names;
    if (const auto* list = declaration["options"].getArray())
        for (const auto& option : *list) names.add(option.toString());
    return names;
}

// The GUI holds floats: 0.1 comes back as 0.100000001. The shortest text that reads back as the
// same float is what was meant, and what the engine checks against the declared range.
String shortestFloat(float number) {
    for (int digits = 1; digits < 9; ++digits) {
        const String text = String::formatted("%.*g", digits, double(number));
        if (float(text.getDoubleValue()) == number) return text;
    }
    return String::formatted("%.9g", double(number));
}

// Slider steps of about a thousandth of the range, rounded to a power of ten.
float stepFor(double low, double high) {
    const double range = high - low;
    return range > 0 ? static_cast<float>(std::pow(10.0, std::floor(std::log10(range / 1000.0)))) : 1.0f;
}

}  // namespace

Parameter* createModuleParameter(ParameterOwner* owner, const var& declaration, int numChannels, ValueCheck check) {
    const String name = declaration["name"].toString();
    const String type = declaration["type"].toString();
    const String description = declaration["description"].toString();
    const var value = declaration["value"];
    const auto scope = Parameter::PROCESSOR_SCOPE;
    if (type == "float") {
        const double low = declaration["min"], high = declaration["max"];
        return new Checked<FloatParameter>(check, owner, scope, name, name, description, declaration["unit"].toString(),
                                           static_cast<float>(double(value)), static_cast<float>(low),
                                           static_cast<float>(high), stepFor(low, high), false);
    }
    if (type == "int")
        return new Checked<IntParameter>(check, owner, scope, name, name, description, int(value),
                                         int(declaration["min"]), int(declaration["max"]), false);
    if (type == "bool") return new Checked<BooleanParameter>(check, owner, scope, name, name, description, bool(value), false);
    if (type == "choice") {
        const StringArray names = options(declaration);
        return new Checked<CategoricalParameter>(check, owner, scope, name, name, description, Array<String>(names.strings),
                                                 jmax(0, names.indexOf(value.toString())), false);
    }
    if (type == "channel") {
        auto* channel = new Checked<SelectedChannelsParameter>(check, owner, scope, name, name, description,
                                                               Array<var>{int(value)}, 1, false);
        channel->setChannelCount(numChannels);
        return channel;
    }
    return new Checked<StringParameter>(check, owner, scope, name, name, description, value.toString(), false);
}

bool matchesDeclaration(Parameter* parameter, const var& declaration) {
    const auto type = kTypes.find(declaration["type"].toString());
    if (!parameter || !dynamic_cast<ModuleParameter*>(parameter) || type == kTypes.end() ||
        parameter->getType() != type->second || parameter->getName() != declaration["name"].toString())
        return false;
    switch (parameter->getType()) {  // a new range or option list needs a new GUI parameter
        case Parameter::FLOAT_PARAM: {
            auto* number = static_cast<FloatParameter*>(parameter);
            return number->getMinValue() == float(double(declaration["min"])) &&
                   number->getMaxValue() == float(double(declaration["max"]));
        }
        case Parameter::INT_PARAM: {
            auto* number = static_cast<IntParameter*>(parameter);
            return number->getMinValue() == int(declaration["min"]) && number->getMaxValue() == int(declaration["max"]);
        }
        case Parameter::CATEGORICAL_PARAM:
            return StringArray(static_cast<CategoricalParameter*>(parameter)->getCategories()) == options(declaration);
        default: return true;
    }
}

String engineValue(Parameter* parameter, const var& value) {
    var converted = value;
    if (parameter->getType() == Parameter::CATEGORICAL_PARAM && (value.isInt() || value.isInt64())) {
        const auto& names = static_cast<CategoricalParameter*>(parameter)->getCategories();
        if (int(value) >= 0 && int(value) < names.size()) converted = names[int(value)];
    } else if (parameter->getType() == Parameter::SELECTED_CHANNELS_PARAM && value.isArray() && value.size() == 1) {
        converted = value[0];
    } else if (parameter->getType() == Parameter::FLOAT_PARAM && (value.isDouble() || value.isInt() || value.isInt64())) {
        return shortestFloat(float(double(value)));
    }
    return JSON::toString(converted, true);
}

Parameter* createNamedChoice(ParameterOwner* owner, const String& name, const String& displayName,
                             const String& description, const StringArray& choices, int defaultIndex,
                             bool deactivateDuringAcquisition) {
    const ValueCheck byName = [choices, name](Parameter*, var& value) -> String {
        if (!value.isString()) return {};
        const int index = choices.indexOf(value.toString());
        if (index < 0) return name + ": '" + value.toString() + "' is not one of " + choices.joinIntoString(", ");
        value = index;
        return {};
    };
    return new Checked<CategoricalParameter>(byName, owner, Parameter::PROCESSOR_SCOPE, name, displayName, description,
                                             Array<String>(choices.strings), defaultIndex, deactivateDuringAcquisition);
}

var guiValue(Parameter* parameter, const var& value) {
    switch (parameter->getType()) {
        case Parameter::CATEGORICAL_PARAM:
            return value.isString() ? var(static_cast<CategoricalParameter*>(parameter)->getCategories().indexOf(value.toString()))
                                    : value;
        case Parameter::SELECTED_CHANNELS_PARAM: return value.isArray() ? value : var(Array<var>{value});
        // The GUI's classes take only their own types (a Boolean ignores 1).
        case Parameter::BOOLEAN_PARAM: return var(bool(value));
        case Parameter::INT_PARAM: return var(int(value));
        case Parameter::FLOAT_PARAM: return var(double(value));
        default: return value;
    }
}

}  // namespace pyproc::plugin
