// The Python Processor's editor: stream selector, script and Python Home
// choosers, Reload, the module's state (details on click), live latency and
// Live view (what the module publishes, in the browser).
#pragma once

#include <EditorHeaders.h>

class PythonProcessor;

class PythonProcessorEditor : public GenericEditor, private Timer {
public:
    explicit PythonProcessorEditor(PythonProcessor* processor);
    ~PythonProcessorEditor() override;

private:
    void timerCallback() override;
    void chooseScript();
    void choosePythonHome();
    void showDetails();
    // One of the GUI's own parameter editors per module parameter, in columns right of ours.
    void showModuleParameters();

    PythonProcessor* pythonProcessor;
    TextButton scriptButton{"Script..."};
    TextButton homeButton{"Python Home..."};
    TextButton reloadButton{"Reload"};
    TextButton liveViewButton{"Live view"};
    TextButton stateButton;
    Label latencyLabel;
    Label lateLabel;
    std::unique_ptr<FileChooser> chooser;
    Array<ParameterEditor*> moduleEditors;  // owned by parameterEditors

    JUCE_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR(PythonProcessorEditor)
};
