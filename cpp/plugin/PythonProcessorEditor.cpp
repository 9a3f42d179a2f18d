#include "PythonProcessorEditor.h"

#include "PythonProcessor.h"

namespace {

constexpr int kOwnWidth = 420;  // our controls; the module's parameters take columns to the right

Colour stageColour(PythonProcessor::Stage stage) {
    switch (stage) {
        case PythonProcessor::Stage::ready: return Colour(0xff2e7d32);
        case PythonProcessor::Stage::errored: return Colour(0xffc62828);
        case PythonProcessor::Stage::crashed: return Colour(0xffc62828);
        case PythonProcessor::Stage::stuck: return Colour(0xff8e24aa);
        case PythonProcessor::Stage::loading: return Colour(0xff1565c0);
        case PythonProcessor::Stage::noPython: return Colour(0xffef6c00);
        default: return Colour(0xff616161);
    }
}

String workerPriorityText(int priority) {
    if (priority > 0) return "real-time priority " + String(priority);
    if (priority < 0)
        return "the normal priority: the system refused the GUI audio thread's real-time one (give this user an "
               "rtprio limit, e.g. the audio group in /etc/security/limits.d)";
    return "the normal priority";
}

}  // namespace

PythonProcessorEditor::PythonProcessorEditor(PythonProcessor* processor)
    : GenericEditor(processor), pythonProcessor(processor) {
    desiredWidth = kOwnWidth;
    addSelectedStreamParameterEditor(Parameter::PROCESSOR_SCOPE, "current_stream", 10, 25);

    for (auto* button : {&scriptButton, &homeButton, &reloadButton, &stateButton, &liveViewButton})
        addAndMakeVisible(button);
    scriptButton.setBounds(10, 52, 145, 20);
    homeButton.setBounds(160, 52, 70, 20);
    homeButton.setButtonText("Home...");
    reloadButton.setBounds(160, 77, 70, 20);
    stateButton.setBounds(10, 77, 145, 20);
    scriptButton.onClick = [this] { chooseScript(); };
    homeButton.onClick = [this] { choosePythonHome(); };
    reloadButton.onClick = [this] { pythonProcessor->reload(); };
    reloadButton.setTooltip("Re-import the script and the helper modules beside it");
    stateButton.onClick = [this] { showDetails(); };
    liveViewButton.setBounds(160, 102, 70, 20);
    liveViewButton.onClick = [this] { pythonProcessor->openLiveView(); };

    latencyLabel.setFont(FontOptions(12.0f));
    latencyLabel.setBounds(10, 102, 145, 18);
    addAndMakeVisible(latencyLabel);
    // How the module runs, and (isolated) its deadline and the buffers that passed it by.
    addComboBoxParameterEditor(Parameter::PROCESSOR_SCOPE, "execution", 240, 22);
    addBoundedValueParameterEditor(Parameter::PROCESSOR_SCOPE, "deadline_ms", 240, 60);
    lateLabel.setFont(FontOptions(12.0f));
    lateLabel.setBounds(240, 102, 100, 18);
    addAndMakeVisible(lateLabel);
    pythonProcessor->onModuleParametersChanged = [safe = Component::SafePointer<PythonProcessorEditor>(this)] {
        if (safe != nullptr) safe->showModuleParameters();
    };
    showModuleParameters();
    startTimerHz(4);
}

PythonProcessorEditor::~PythonProcessorEditor() {
    stopTimer();
    pythonProcessor->onModuleParametersChanged = nullptr;
}

void PythonProcessorEditor::showModuleParameters() {
    constexpr int left = kOwnWidth, columnWidth = 175, rowHeight = 34, rows = 3;
    for (auto* old : moduleEditors) parameterEditors.removeObject(old);
    moduleEditors.clear();
    const StringArray names = pythonProcessor->moduleParameterNames();
    for (int i = 0; i < names.size(); ++i) {
        const Parameter* parameter = pythonProcessor->getParameter(names[i]);
        if (parameter == nullptr) continue;
        const int x = left + (i / rows) * columnWidth, y = 22 + (i % rows) * rowHeight;
        const auto scope = Parameter::PROCESSOR_SCOPE;
        switch (parameter->getType()) {
            case Parameter::FLOAT_PARAM:
            case Parameter::INT_PARAM: addBoundedValueParameterEditor(scope, names[i], x, y); break;
            case Parameter::BOOLEAN_PARAM: addToggleParameterEditor(scope, names[i], x, y); break;
            case Parameter::CATEGORICAL_PARAM: addComboBoxParameterEditor(scope, names[i], x, y); break;
            case Parameter::SELECTED_CHANNELS_PARAM: addSelectedChannelsParameterEditor(scope, names[i], x, y); break;
            default: addTextBoxParameterEditor(scope, names[i], x, y); break;
        }
        moduleEditors.add(parameterEditors.getLast());
    }
    // The editor widens with the columns; the signal chain view lays it out anew.
    const int width = left + ((names.size() + rows - 1) / rows) * columnWidth + (names.isEmpty() ? 0 : 5);
    if (width != desiredWidth) {
        setDesiredWidth(width);
        if (!acquisitionIsActive) CoreServices::updateSignalChain(this);
    }
}

void PythonProcessorEditor::timerCallback() {
    const auto status = pythonProcessor->status();
    const String script = pythonProcessor->getParameter("script_path")->getValueAsString();
    scriptButton.setButtonText(script.isEmpty() ? "Script..." : File(script).getFileName());
    scriptButton.setTooltip(script);
    stateButton.setButtonText(status.headline);
    stateButton.setColour(TextButton::buttonColourId, stageColour(status.stage));
    String tip = status.details.isNotEmpty() ? status.details : status.pythonHome;
    if (status.warning.isNotEmpty()) tip << "\n" << status.warning;
    stateButton.setTooltip(tip);
    homeButton.setTooltip(status.pythonHome.isNotEmpty() ? status.pythonHome : "Choose the Python Home (env folder)");
    // The buffer's duration is in the tooltip; the text turns red when p99 exceeds it.
    if (status.calls == 0) latencyLabel.setText("latency: -", dontSendNotification);
    else
        latencyLabel.setText("p50 " + String(roundToInt(status.p50Us)) + ", p99 " + String(roundToInt(status.p99Us)) + " us",
                             dontSendNotification);
    latencyLabel.setTooltip("process() latency, median (p50) and 99th percentile (p99), against the buffer's duration" +
                            (status.bufferUs > 0 ? " of " + String(status.bufferUs / 1000.0, 1) + " ms" : String()));
    latencyLabel.setColour(Label::textColourId,
                           status.p99Us > status.bufferUs && status.calls > 0 ? Colours::red : Colours::black);
    lateLabel.setText(status.isolated ? "late: " + String(status.late) : String(), dontSendNotification);
    lateLabel.setTooltip("Buffers that passed through untouched: the module was late (deadline " +
                         String(status.deadlineUs / 1000.0, 2) + " ms), loading, stuck or gone. The module runs at " +
                         workerPriorityText(status.workerPriority));
    lateLabel.setColour(Label::textColourId, status.late > 0 ? Colours::darkred : Colours::black);
    liveViewButton.setEnabled(status.viewerUnavailable.isEmpty());
    const String viewer = status.live["viewer"].toString();
    liveViewButton.setTooltip(status.viewerUnavailable.isNotEmpty()
                                  ? "Live view is unavailable: " + status.viewerUnavailable
                                  : viewer.isNotEmpty() ? "Open the live viewer (running at " + viewer + ") in the browser"
                                                        : "Start the live viewer (oe-pyproc view) and open it in the browser: "
                                                          "it plots what the module publishes");
}

void PythonProcessorEditor::chooseScript() {
    chooser = std::make_unique<FileChooser>("Python script with class PyProcessor", File(), "*.py");
    chooser->launchAsync(FileBrowserComponent::openMode | FileBrowserComponent::canSelectFiles,
                         [this](const FileChooser& chosen) {
                             if (chosen.getResult() == File()) return;
                             pythonProcessor->getParameter("script_path")->setNextValue(chosen.getResult().getFullPathName());
                             // Only now, after the user acted, may the GUI ask for a Python Home.
                             if (pythonProcessor->needsPythonHome()) choosePythonHome();
                         });
}

void PythonProcessorEditor::choosePythonHome() {
    chooser = std::make_unique<FileChooser>("Python Home: the env folder (conda env or venv with numpy)");
    chooser->launchAsync(FileBrowserComponent::openMode | FileBrowserComponent::canSelectDirectories,
                         [this](const FileChooser& chosen) {
                             if (chosen.getResult() == File()) return;
                             pythonProcessor->getParameter("python_home")->setNextValue(chosen.getResult().getFullPathName());
                         });
}

void PythonProcessorEditor::showDetails() {
    const auto status = pythonProcessor->status();
    String text = status.details.isNotEmpty() ? status.details : status.headline;
    if (status.pythonHome.isNotEmpty()) text << "\n\n" << status.pythonHome;
    if (status.warning.isNotEmpty()) text << "\n\n" << status.warning;
    AlertWindow::showMessageBoxAsync(MessageBoxIconType::InfoIcon, "Python Processor", text);
}
