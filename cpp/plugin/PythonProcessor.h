// The Python Processor: a GUI filter that hands the selected stream, its TTL
// events and spikes to a PyProcessor module through the engine, and sends the
// module's events and spikes on down the chain. GUI glue only: Python lives in
// the engine, the Python Home in the loader.
#pragma once

#include <ProcessorHeaders.h>

#include <atomic>
#include <functional>
#include <array>
#include <string>
#include <vector>
#include <map>
#include <memory>
#include <mutex>

#include <pyproc/engine_api.h>
#include <child_process.h>

class PythonProcessor : public GenericProcessor, private juce::Timer {
public:
    // What the editor and `GET config status` show.
    enum class Stage { noPython, noModule, ready, errored, loading, crashed, stuck };

    struct Status {
        Stage stage = Stage::noPython;
        String headline;      // one line, e.g. "ready: bandpass.py"
        String details;       // the loader's explanation or the Python traceback
        String pythonHome;    // the home in use and where it came from
        String warning;       // e.g. "restart the GUI to use another Python Home"
        double p50Us = 0, p99Us = 0, bufferUs = 0;
        uint64 calls = 0, overruns = 0;
        bool isolated = true;   // the module runs in a worker process of its own
        uint64 late = 0;        // isolated: buffers that passed through untouched (late, loading or gone)
        int workerPriority = 0; // isolated: the worker's SCHED_FIFO priority while acquiring, 0: normal, -1: refused
        double deadlineUs = 0;  // isolated: how long a buffer waits for the module
        // The engine's live_status ({"path", "error", "names"}) and "viewer": the running viewer's
        // URL from viewer.json beside the ring file, or null.
        var live;
        String viewerUnavailable;  // why the Live view button cannot work, "" when it can
    };

    PythonProcessor();
    ~PythonProcessor() override;

    AudioProcessorEditor* createEditor() override;
    void registerParameters() override;
    void updateSettings() override;
    void initialize(bool signalChainIsLoading) override;
    void process(AudioBuffer<float>& buffer) override;
    void handleTTLEvent(TTLEventPtr event) override;
    void handleSpike(SpikePtr spike) override;
    bool startAcquisition() override;
    bool stopAcquisition() override;
    void startRecording() override;
    void stopRecording() override;
    void parameterValueChanged(Parameter* parameter) override;
    // The module's parameter values (the engine's form), saved with the chain in CUSTOM_PARAMETERS.
    void saveCustomParametersToXml(XmlElement* parentElement) override;
    void loadCustomParametersFromXml(XmlElement* customParamsXml) override;
    // The module's declared parameters, in their order (GUI parameters of the same names).
    StringArray moduleParameterNames() const { return declaredParameters; }
    // Called on the message thread when the module's parameters were (re)declared.
    std::function<void()> onModuleParametersChanged;
    // "reload" reloads the module, "live_view" opens the live viewer (as the editor's button does);
    // each, and "status", answers with the Status as JSON.
    String handleConfigMessage(const String& message) override;

    Status status() const;
    // Re-imports the module and its helper modules (message thread).
    void reload();
    // True when no Python Home was found or it was refused: the editor may ask for one.
    bool needsPythonHome() const;
    // Starts `<the Python Home's python> -m oe_pyproc view --open` as a process of its own, which
    // opens the viewer in the browser (starting the viewer if none runs). Message thread. Returns ""
    // or why it could not be started (also logged and shown in the status's warning).
    String openLiveView();

private:
    struct StreamOutputs {
        EventChannel* ttl = nullptr;
        SpikeChannel* spikes = nullptr;
    };

    // A continuous channel the module adds to its stream (docs/derived.md), as the engine declares it.
    struct DerivedChannelSpec {
        String name, unit, description;
        double bitVolts = 1.0;
        bool operator==(const DerivedChannelSpec& other) const {
            return name == other.name && unit == other.unit && description == other.description &&
                   bitVolts == other.bitVolts;
        }
    };

    void timerCallback() override;
    StringArray inputChannelNames(const DataStream* stream) const;
    std::vector<DerivedChannelSpec> declaredDerivedChannels() const;
    void addDerivedChannels(DataStream* stream);
    static void removeSpikeChannel(DataStream* stream, const SpikeChannel* channel);
    void updateChainForDerivedChannels();
    void startPython();
    void rebuildInstance();
    void syncModuleParameters();
    String requestModuleValue(Parameter* parameter, var& value);
    String initialValuesJson() const;
    void destroyInstance();
    bool isolated() const;
    void applyLimits();
    void refreshStatus();
    void logNewError(const String& error);
    void sendPythonOutputs(const pyproc_outputs& out, int64 firstSample, int numSamples);
    void queueRecordingCall(bool start, const std::string& folder);
    void deliverRecordingCalls(bool mayWait);
    String statusJson() const;
    uint16 selectedStreamId() const;
    String hostFieldsJson();
    var liveStatus();
    void reapViewerLaunches();
    String viewerUnavailableReason() const;

    const pyproc_engine_api* api = nullptr;     // the engine, in this process
    const pyproc_engine_api* runner = nullptr;  // the instance's: the engine, or isolation's table over it
    pyproc_instance* instance = nullptr;
    int lastState = -1;  // the instance's state at the last status: a module done loading declares its parameters
    bool syncingParameters = false;  // inside syncModuleParameters (message thread)
    // Serializes engine calls on this instance; the audio thread only ever tries it.
    std::mutex engineMutex;

    String homeProblem;          // why Python could not start, in the loader's words
    String homeSource;
    String restartWarning;       // another home was asked for after Python started
    String moduleWarnings;       // the engine's warnings, as last read
    String lastRefusal;          // the last module parameter value the engine refused
    // The module's parameters: declared names, and every value known (the engine's form, JSON
    // text), from the chain, the GUI or the engine; they go to the next instance before __init__.
    StringArray declaredParameters;
    std::map<String, String> moduleValues;
    bool pythonStartAttempted = false;

    // Live values: the ring files' folder (known from the first ring file), the processes the Live
    // view button started until they end, and why the last one failed.
    File liveDir;
    std::vector<pyproc::common::DetachedProcess> viewerLaunches;
    String viewerProblem;
    bool viewerProblemIsHome = false;  // the problem was the Python Home: gone once one is in use

    // The stream the instance was built for: rebuilt when any of these change.
    uint16 builtStreamId = 0;
    int builtChannels = -1;
    double builtSampleRate = 0;
    String builtScript;
    bool builtIsolated = true;
    int firstChannelIndex = 0;  // of the built stream in the GUI's buffer, set at acquisition start

    // The derived channels in the chain: the module's last known declarations (saved with the chain,
    // so a chain loads with them before the module has loaded), their first channel in the GUI's
    // buffer (set at acquisition start, right after the stream's own), and how many the chain has.
    std::vector<DerivedChannelSpec> derivedChannels;
    int firstDerivedIndex = 0;
    int derivedInChain = 0;

    std::map<uint16, StreamOutputs> outputs;
    Array<SpikeChannel*> ownSpikeChannels;
    std::atomic<bool> warnedSpikeShape{false};  // set by the audio thread

    // The block's events and spikes, gathered by checkForEvents for the engine's run_block (the
    // spikes are kept until then: the GUI would free each after handleSpike); reserved, so a block
    // allocates nothing of ours.
    std::vector<pyproc_ttl_input> blockEvents;
    std::vector<pyproc_spike> blockSpikes;
    std::vector<std::unique_ptr<Spike>> blockSpikeRefs;

    // start_recording (with its folder) and stop_recording calls, in order, waiting for the audio
    // thread's next block (see startRecording); fixed slots: the audio thread neither allocates nor frees.
    struct RecordingCall {
        bool start = false;
        std::array<char, 4096> folder{};
    };
    std::mutex recordingMutex;
    std::array<RecordingCall, 8> recordingCalls;
    size_t pendingRecordingCalls = 0;
    std::atomic<bool> recordingCallsWaiting{false};

    std::atomic<double> liveBufferUs{0};  // written by the audio thread, read by the timer

    mutable CriticalSection statusLock;
    Status current;
    String lastLoggedError;
    int64 lastLogMillis = 0;

    JUCE_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR(PythonProcessor)
};
