#include "PythonProcessor.h"

#include <engine_text.h>
#include <isolated_engine.h>
#include <loader.h>
#include <viewer_file.h>

#include <cstring>

#include "ModuleParameters.h"
#include "PythonProcessorEditor.h"
#include "home_resolver.h"
#include "plugin_location.h"

namespace {

const char* const pythonHomeParameter = "python_home";
const char* const scriptParameter = "script_path";
// The published plugin's name for the selected stream, so its chains load.
const char* const streamParameter = "current_stream";
// Ours alone: a chain that does not name them (the published plugin's, an earlier version's) runs the
// module isolated, with the default deadline.
const char* const executionParameter = "execution";
const char* const deadlineParameter = "deadline_ms";
constexpr double stuckAfterSeconds = 10;
const char* const derivedIdentifierPrefix = "dataderived.python.";

// The engine's text (cpp/common/engine_text.h), as a JUCE string.
String engineText(size_t (*read)(const pyproc_instance*, char*, size_t), const pyproc_instance* instance) {
    const std::string text = pyproc::common::engine_text(read, instance);
    return String::fromUTF8(text.data(), static_cast<int>(text.size()));
}

String sameFolderKey(const String& path) {
    return File(path).getFullPathName().trimCharactersAtEnd(File::getSeparatorString());
}

// The folder a session is recorded into, <directory>/<date>, as Session() opens
// it: the directory of the first Record Node downstream, else the GUI's default.
File recordingFolder(const GenericProcessor* processor) {
    File parent = CoreServices::getRecordingParentDirectory();
    for (const GenericProcessor* next = processor->getDestNode(); next != nullptr; next = next->getDestNode())
        if (next->isRecordNode()) {
            parent = CoreServices::RecordNode::getRecordingDirectory(next->getNodeId());
            break;
        }
    return parent.getChildFile(CoreServices::getRecordingDirectoryName());
}

// Live view launches of processors deleted since (message thread): the others reap them.
std::vector<pyproc::common::DetachedProcess>& orphanedViewerLaunches() {
    static std::vector<pyproc::common::DetachedProcess> launches;
    return launches;
}

}  // namespace

PythonProcessor::PythonProcessor() : GenericProcessor("Python Processor") {
    blockEvents.reserve(1024);
    blockSpikes.reserve(256);
    blockSpikeRefs.reserve(256);
}

PythonProcessor::~PythonProcessor() {
    stopTimer();
    auto& orphans = orphanedViewerLaunches();
    orphans.insert(orphans.end(), viewerLaunches.begin(), viewerLaunches.end());
    destroyInstance();  // the interpreter stays: other instances, and Python cannot restart
}

AudioProcessorEditor* PythonProcessor::createEditor() {
    editor = std::make_unique<PythonProcessorEditor>(this);
    return editor.get();
}

void PythonProcessor::registerParameters() {
    addStringParameter(Parameter::PROCESSOR_SCOPE, pythonHomeParameter, "Python Home",
                       "The Python environment (a conda env or venv with numpy) that runs the module", String(), true);
    addStringParameter(Parameter::PROCESSOR_SCOPE, scriptParameter, "Script",
                       "The Python file that defines class PyProcessor", String(), true);
    addSelectedStreamParameter(Parameter::PROCESSOR_SCOPE, streamParameter, "Stream",
                               "The stream whose data, events and spikes go to Python", {}, 0, true, true);
    addParameter(pyproc::plugin::createNamedChoice(
        this, executionParameter, "Run",
        "isolated: the module runs in a process of its own, so that a hang or a crash never stops the recording; "
        "in-process: on the GUI's audio thread, without copies (lowest latency)",
        {"isolated", "in-process"}, 0, true));
    addFloatParameter(Parameter::PROCESSOR_SCOPE, deadlineParameter, "Deadline",
                      "Isolated: how long a buffer waits for the module before it passes through untouched "
                      "(0: half the buffer's duration)",
                      "ms", 0.0f, 0.0f, 1000.0f, 0.5f, false);
}

bool PythonProcessor::isolated() const { return getParameter(executionParameter)->getValueAsString() != "in-process"; }

void PythonProcessor::applyLimits() {
    if (runner && instance)
        runner->set_limits(instance, 1000.0 * static_cast<double>(getParameter(deadlineParameter)->getValue()),
                           stuckAfterSeconds);
}

uint16 PythonProcessor::selectedStreamId() const {
    auto* parameter = static_cast<SelectedStreamParameter*>(getParameter(streamParameter));
    const int index = parameter ? parameter->getSelectedIndex() : 0;
    const auto streams = getDataStreams();
    if (streams.isEmpty()) return 0;
    return streams[jlimit(0, streams.size() - 1, index)]->getStreamId();
}

void PythonProcessor::updateSettings() {
    // Our spike channels are local, so the GUI keeps them, and its update() has already added each
    // to the new stream like its old one: taken out of every stream before they are deleted (else a
    // stream lists freed memory, which the next processor copies), and made anew for these streams.
    for (auto* channel : ownSpikeChannels) {
        for (auto* stream : dataStreams) removeSpikeChannel(stream, channel);
        spikeChannels.removeObject(channel);
    }
    ownSpikeChannels.clear();
    outputs.clear();
    for (auto* stream : getDataStreams()) {
        StreamOutputs& out = outputs[stream->getStreamId()];
        EventChannel::Settings ttlSettings{EventChannel::Type::TTL, "Python Processor Output",
                                           "TTL events sent by the Python module", "pythonprocessor.ttl",
                                           getDataStream(stream->getStreamId())};
        eventChannels.add(new EventChannel(ttlSettings));
        eventChannels.getLast()->addProcessor(this);
        out.ttl = eventChannels.getLast();

        if (stream->getChannelCount() == 0) continue;
        SpikeChannel::Settings spikeSettings{SpikeChannel::Type::SINGLE, "Python Spikes",
                                             "Spikes sent by the Python module",
                                             SpikeChannel::getIdentifierFromType(SpikeChannel::Type::SINGLE), {0}};
        auto* spikes = new SpikeChannel(spikeSettings);
        spikes->addProcessor(this);
        spikes->setDataStream(getDataStream(stream->getStreamId()), true);
        spikeChannels.add(spikes);
        ownSpikeChannels.add(spikes);
        out.spikes = spikes;
    }
    if (pythonStartAttempted) rebuildInstance();
    derivedChannels = declaredDerivedChannels();  // in-process, a module that just loaded declared them
    if (auto* stream = getDataStream(selectedStreamId())) addDerivedChannels(stream);
}

// DataStream has no remove: its lists are rebuilt without CHANNEL, in order (local indexes unchanged
// before it).
void PythonProcessor::removeSpikeChannel(DataStream* stream, const SpikeChannel* channel) {
    const auto spikes = stream->getSpikeChannels();
    if (!spikes.contains(const_cast<SpikeChannel*>(channel))) return;
    const auto continuous = stream->getContinuousChannels();
    const auto events = stream->getEventChannels();
    stream->clearChannels();
    for (auto* kept : continuous) stream->addChannel(kept);
    for (auto* kept : events) stream->addChannel(kept);
    for (auto* kept : spikes)
        if (kept != channel) stream->addChannel(kept);
}

// The names of the stream's channels that come from upstream (ours are the derived channels added
// last update).
StringArray PythonProcessor::inputChannelNames(const DataStream* stream) const {
    StringArray names;
    for (const auto* channel : stream->getContinuousChannels())
        if (channel->getSourceNodeId() != getNodeId()) names.add(channel->getName());
    return names;
}

// The engine's declarations, when a load of the module knew them; else the chain's.
std::vector<PythonProcessor::DerivedChannelSpec> PythonProcessor::declaredDerivedChannels() const {
    if (!runner || !instance) return derivedChannels;
    const var reply = JSON::parse(engineText(runner->derived_channels, instance));
    if (!static_cast<bool>(reply["known"])) return derivedChannels;
    std::vector<DerivedChannelSpec> declared;
    if (const auto* list = reply["channels"].getArray())
        for (const auto& channel : *list)
            declared.push_back({channel["name"].toString(), channel["unit"].toString(), channel["description"].toString(),
                                static_cast<double>(channel["bit_volts"])});
    return declared;
}

// The derived channels go right after the stream's own channels, so that in the GUI's buffer they
// follow them (the graph routes every channel by its identity, wherever it sits). Electrode channels
// when in microvolts (the LFP Viewer scales them as the data), else auxiliary ones.
void PythonProcessor::addDerivedChannels(DataStream* stream) {
    int insertAt = 0;
    for (int i = 0; i < continuousChannels.size(); ++i)
        if (continuousChannels[i]->getStreamId() == stream->getStreamId()) insertAt = i + 1;
    for (const auto& spec : derivedChannels) {
        const bool microvolts = spec.unit == "uV" || spec.unit == String::fromUTF8("\xc2\xb5V");
        ContinuousChannel::Settings settings{microvolts ? ContinuousChannel::Type::ELECTRODE : ContinuousChannel::Type::AUX,
                                             spec.name, spec.description, derivedIdentifierPrefix + spec.name,
                                             static_cast<float>(spec.bitVolts), stream};
        auto* channel = new ContinuousChannel(settings);
        channel->setUnits(spec.unit);
        channel->addProcessor(this);
        continuousChannels.insert(insertAt++, channel);
    }
}

// A module that declared other derived channels (a reload, a module done loading in its worker):
// the chain is updated (updateSettings takes them), once acquisition has stopped (the GUI's buffers
// cannot change shape during it). An update the GUI ignores (a chain loading) is asked for again.
void PythonProcessor::updateChainForDerivedChannels() {
    if (CoreServices::getAcquisitionStatus() || !runner || !instance || runner->state(instance) != PYPROC_READY) return;
    if (declaredDerivedChannels() != derivedChannels) CoreServices::updateSignalChain(this);
}

void PythonProcessor::initialize(bool /*signalChainIsLoading*/) {
    // No dialog here: loading a chain or running headless must never block on one.
    startPython();
    rebuildInstance();
    startTimerHz(4);
}

void PythonProcessor::startPython() {
    pythonStartAttempted = true;
    const String saved = getParameter(pythonHomeParameter)->getValueAsString();
    const auto choice = pyproc::plugin::resolvePythonHome(saved, CoreServices::getSavedStateDirectory());
    homeSource = choice.source;
    if (choice.settingsProblem.isNotEmpty()) LOGE("Python Processor: ", choice.settingsProblem);
    if (const auto* running = pyproc::loader::loaded_engine()) {
        api = running->api;
        homeProblem.clear();
        const String runningHome = String(running->home.root.u8string());
        restartWarning = choice.path.isEmpty() || sameFolderKey(choice.path) == sameFolderKey(runningHome)
                              ? String()
                              : "Python " + String(running->python_version) + " from " + runningHome +
                                    " is already running in this GUI: restart the GUI to use " + choice.path;
        return;
    }
    if (choice.path.isEmpty()) {
        homeProblem = "No Python Home: run `oe-pyproc setup` (it finds or creates the oe-python-plugin env), "
                      "set OE_PYTHON_HOME, or choose the env folder in this processor's editor." +
                      (choice.settingsProblem.isEmpty() ? String() : " The settings file was passed over: " +
                                                                         choice.settingsProblem);
        return;
    }
    const File sharedFolder = CoreServices::getSavedStateDirectory().getChildFile("shared-api10");
    try {
        const auto& loaded = pyproc::loader::load_engine(std::filesystem::u8path(choice.path.toStdString()),
                                                         pyproc::plugin::engineFolders(
                                                             std::filesystem::u8path(sharedFolder.getFullPathName().toStdString())));
        api = loaded.api;
        homeProblem.clear();
        LOGC("Python ", loaded.python_version, " from ", choice.path, " (", choice.source, ")");
    } catch (const std::exception& error) {
        api = nullptr;
        homeProblem = "Python Home " + choice.path + " (from " + choice.source + "): " + String::fromUTF8(error.what());
        LOGE(homeProblem);
    }
}

void PythonProcessor::destroyInstance() {
    std::lock_guard<std::mutex> lock(engineMutex);
    if (runner && instance) runner->destroy(instance);
    instance = nullptr;
    runner = nullptr;
    lastState = -1;
    builtChannels = -1;
}

void PythonProcessor::rebuildInstance() {
    const uint16 streamId = selectedStreamId();
    const DataStream* stream = streamId ? getDataStream(streamId) : nullptr;
    const StringArray names = stream ? inputChannelNames(stream) : StringArray();
    const int channels = names.size();
    const double sampleRate = stream ? stream->getSampleRate() : 0.0;
    const String script = getParameter(scriptParameter)->getValueAsString();
    if (!api) {
        destroyInstance();
        return;
    }
    const bool wantIsolated = isolated();
    if (instance && streamId == builtStreamId && channels == builtChannels && sampleRate == builtSampleRate &&
        script == builtScript && wantIsolated == builtIsolated)
        return;
    destroyInstance();
    std::lock_guard<std::mutex> lock(engineMutex);
    // Isolated: create() returns at once, the module loads in its worker (syncModuleParameters runs
    // again once it is ready: refreshStatus).
    runner = wantIsolated ? pyproc::isolation::isolated_api(*pyproc::loader::loaded_engine()) : api;
    std::vector<std::string> nameTexts;
    for (const auto& name : names) nameTexts.push_back(name.toStdString());
    std::vector<const char*> namePointers;
    for (const auto& name : nameTexts) namePointers.push_back(name.c_str());
    const double bitVolts = stream && stream->getChannelCount() > 0 ? stream->getContinuousChannels()[0]->getBitVolts() : 0.0;
    const pyproc_stream input{channels, sampleRate, namePointers.data(), bitVolts};
    instance = runner->create(script.toRawUTF8(), &input, initialValuesJson().toRawUTF8());
    applyLimits();
    runner->set_host_fields(instance, hostFieldsJson().toRawUTF8());  // who we are, in the instance's live ring
    builtIsolated = wantIsolated;
    lastState = runner->state(instance);
    builtStreamId = streamId;
    builtChannels = channels;
    builtSampleRate = sampleRate;
    builtScript = script;
    warnedSpikeShape = false;
    moduleWarnings.clear();
    syncModuleParameters();
}

// The host's fields of the live ring's meta (docs/live.md): how a viewer names this instance.
String PythonProcessor::hostFieldsJson() {
    auto* fields = new DynamicObject();
    fields->setProperty("program", "Open Ephys GUI");
    fields->setProperty("node_id", getNodeId());
    fields->setProperty("name", getDisplayName());
    return JSON::toString(var(fields), true);
}

String PythonProcessor::initialValuesJson() const {
    String json = "{";
    for (const auto& [name, value] : moduleValues)
        json += (json.length() > 1 ? ", " : "") + JSON::toString(var(name)) + ": " + value;
    return json + "}";
}

// Registers a GUI parameter for each parameter the module declares (the engine's JSON); one that
// exists already keeps its place. Called with engineMutex held, on the message thread.
void PythonProcessor::syncModuleParameters() {
    if (runner->state(instance) == PYPROC_LOADING) return;  // declared once loaded (refreshStatus)
    // Setting the GUI parameters calls parameterValueChanged, and so refreshStatus: it must not sync again.
    const ScopedValueSetter<bool> syncing(syncingParameters, true);
    const size_t length = runner->parameters(instance, nullptr, 0);
    std::string text(length + 1, '\0');
    runner->parameters(instance, text.data(), text.size());
    const var reply = JSON::parse(String::fromUTF8(text.c_str()));
    StringArray declared;
    const int channels = jmax(builtChannels, 1);
    if (const auto* list = reply["parameters"].getArray()) {
        for (const auto& declaration : *list) {
            const String name = declaration["name"].toString();
            declared.add(name);
            Parameter* existing = getParameter(name);
            if (existing == nullptr) {
                Parameter* created = pyproc::plugin::createModuleParameter(
                    this, declaration, channels,
                    [this](Parameter* parameter, var& value) { return requestModuleValue(parameter, value); });
                moduleValues[name] = pyproc::plugin::engineValue(created, created->getValue());
                addParameter(created);
            } else if (!pyproc::plugin::matchesDeclaration(existing, declaration)) {
                LOGE("Python Processor: the module's parameter ", name, " changed its declaration; restart the GUI to see it");
            } else {
                if (existing->getType() == Parameter::SELECTED_CHANNELS_PARAM)
                    static_cast<SelectedChannelsParameter*>(existing)->setChannelCount(channels);
                // The engine's value (it may have refused a saved one): the check sees it as known.
                const var value = pyproc::plugin::guiValue(existing, declaration["value"]);
                moduleValues[name] = pyproc::plugin::engineValue(existing, value);
                existing->setNextValue(value, false);
            }
        }
    }
    const bool changed = declared != declaredParameters;
    declaredParameters = declared;
    if (changed && onModuleParametersChanged) MessageManager::callAsync(onModuleParametersChanged);
}

// A GUI, HTTP API or undo change of a module parameter: the engine checks it and keeps it for the
// next buffer. Any thread but the audio thread.
String PythonProcessor::requestModuleValue(Parameter* parameter, var& value) {
    const String name = parameter->getName();
    if (!declaredParameters.contains(name))
        return name + ": the module does not declare this parameter (now: " + declaredParameters.joinIntoString(", ") + ")";
    const String engineForm = pyproc::plugin::engineValue(parameter, value);
    // The GUI sets a value twice (its request, then its undoable action): the engine hears it once.
    const bool known = moduleValues.count(name) && moduleValues[name] == engineForm;
    if (!known) {
        // Not under engineMutex: set_parameter may run beside process(), so the audio thread never
        // skips a block for it. The instance only goes away on this (the message) thread.
        char refusal[1024] = {0};
        if (!api || !instance) return name + ": no module is loaded";
        if (runner->set_parameter(instance, name.toRawUTF8(), engineForm.toRawUTF8(), refusal, sizeof refusal) != 0) {
            lastRefusal = String::fromUTF8(refusal);
            return lastRefusal;
        }
        lastRefusal.clear();
        moduleValues[name] = engineForm;
    }
    value = pyproc::plugin::guiValue(parameter, JSON::fromString(engineForm));  // any JSON value, not only objects
    return {};
}

void PythonProcessor::saveCustomParametersToXml(XmlElement* parentElement) {
    auto* values = parentElement->createNewChildElement("MODULE_PARAMETERS");
    for (const auto& name : declaredParameters) values->setAttribute(name, moduleValues[name]);
    for (const auto& spec : derivedChannels) {
        auto* channel = parentElement->createNewChildElement("DERIVED_CHANNEL");
        channel->setAttribute("name", spec.name);
        channel->setAttribute("unit", spec.unit);
        channel->setAttribute("description", spec.description);
        channel->setAttribute("bit_volts", spec.bitVolts);
    }
}

void PythonProcessor::loadCustomParametersFromXml(XmlElement* customParamsXml) {
    // The derived channels the module declared when the chain was saved: in the chain until it says otherwise.
    if (customParamsXml != nullptr && instance == nullptr) {
        derivedChannels.clear();
        for (const auto* channel : customParamsXml->getChildWithTagNameIterator("DERIVED_CHANNEL")) {
            const double bitVolts = channel->getDoubleAttribute("bit_volts", 1.0);
            derivedChannels.push_back({channel->getStringAttribute("name"), channel->getStringAttribute("unit"),
                                       channel->getStringAttribute("description"), bitVolts > 0 ? bitVolts : 1.0});
        }
    }
    const XmlElement* values = customParamsXml ? customParamsXml->getChildByName("MODULE_PARAMETERS") : nullptr;
    // A live instance took the values already, through its GUI parameters (parameterValueChanged).
    if (values == nullptr || instance != nullptr) return;
    for (int i = 0; i < values->getNumAttributes(); ++i)
        moduleValues[values->getAttributeName(i)] = values->getAttributeValue(i);
}

void PythonProcessor::parameterValueChanged(Parameter* parameter) {
    if (!pythonStartAttempted) return;  // initialize() starts everything once the chain is in place
    const String name = parameter->getName();
    if (name == pythonHomeParameter) {
        startPython();
        rebuildInstance();
    } else if (name == deadlineParameter) {
        applyLimits();
    } else if (name == scriptParameter || name == streamParameter || name == executionParameter) {
        if (name == scriptParameter) moduleValues.clear();  // another module: the old one's values mean nothing
        rebuildInstance();
    } else if (declaredParameters.contains(name)) {
        // Set without setNextValue (loading settings into a live processor: paste, undo, "load"):
        // the engine hears it here, unless it already has this value.
        var value = parameter->getValue();
        const String refusal = requestModuleValue(parameter, value);
        if (refusal.isNotEmpty()) LOGE("Python Processor: ", refusal);
    }
    refreshStatus();
}

void PythonProcessor::reload() {
    if (!api || !instance) return;
    {
        std::lock_guard<std::mutex> lock(engineMutex);
        lastState = runner->reload(instance);
        syncModuleParameters();
    }
    lastLoggedError.clear();
    refreshStatus();
}

bool PythonProcessor::needsPythonHome() const { return api == nullptr; }

// The audio thread: gathers the block's events and spikes, then the engine's run_block (the per-buffer
// sequence pyproc-host runs too), then what Python sent goes to the chain. Nothing here waits, sorts,
// allocates or makes a system call of ours; the latency statistics are read by the status timer.
void PythonProcessor::process(AudioBuffer<float>& buffer) {
    // Never wait on the audio thread: during a reload, blocks pass through untouched.
    std::unique_lock<std::mutex> lock(engineMutex, std::try_to_lock);
    if (!lock.owns_lock() || !api || !instance || builtStreamId == 0) return;
    const uint16 streamId = builtStreamId;
    const int64 firstSample = getFirstSampleNumberForBlock(streamId);
    const int numSamples = static_cast<int>(getNumSamplesInBlock(streamId));
    deliverRecordingCalls(false);
    blockEvents.clear();
    blockSpikes.clear();
    checkForEvents(true);  // handleTTLEvent and handleSpike gather them
    const int derived = firstDerivedIndex + derivedInChain <= buffer.getNumChannels() ? derivedInChain : 0;
    const pyproc_block block{firstSample,
                             numSamples,
                             buffer.getArrayOfWritePointers() + firstChannelIndex,
                             numSamples > 0 ? builtChannels : 0,
                             blockEvents.data(),
                             blockEvents.size(),
                             blockSpikes.data(),
                             blockSpikes.size(),
                             0,
                             buffer.getArrayOfWritePointers() + firstDerivedIndex,
                             derived};
    pyproc_outputs out{};
    runner->run_block(instance, &block, &out);
    blockSpikeRefs.clear();
    sendPythonOutputs(out, firstSample, numSamples);
    if (numSamples > 0 && builtSampleRate > 0) liveBufferUs = 1e6 * numSamples / builtSampleRate;
}

void PythonProcessor::sendPythonOutputs(const pyproc_outputs& out, int64 firstSample, int numSamples) {
    const auto found = outputs.find(builtStreamId);
    if (found == outputs.end()) return;
    const int lastOffset = jmax(0, numSamples - 1);
    for (size_t i = 0; i < out.num_events; ++i) {
        const pyproc_ttl_event& event = out.events[i];
        const int offset = static_cast<int>(jlimit<int64>(0, lastOffset, event.sample_number - firstSample));
        TTLEventPtr ttl = TTLEvent::createTTLEvent(found->second.ttl, firstSample + offset, event.line, event.state != 0);
        addEvent(ttl, offset);
    }
    SpikeChannel* channel = found->second.spikes;
    if (!channel) return;
    // The GUI's spike channel has a fixed shape (one channel, pre + post peak
    // samples): rows past the first are dropped, samples cut or zero-padded.
    const int samples = static_cast<int>(channel->getTotalSamples());
    for (size_t i = 0; i < out.num_spikes; ++i) {
        const pyproc_spike& spike = out.spikes[i];
        if (spike.num_channels != 1 || spike.num_samples != samples) warnedSpikeShape = true;
        Spike::Buffer waveform(channel);
        for (int s = 0; s < samples; ++s) waveform.set(0, s, s < spike.num_samples ? spike.waveform[s] : 0.0f);
        SpikePtr created = Spike::createSpike(channel, spike.sample_number, {0.0f}, waveform, spike.sorted_id);
        addSpike(created);
    }
}

void PythonProcessor::handleTTLEvent(TTLEventPtr event) {
    if (event->getStreamId() != builtStreamId) return;
    // The name's text belongs to the event channel, which outlives the block.
    blockEvents.push_back({event->getSampleNumber(), event->getChannelInfo()->getName().toRawUTF8(),
                           static_cast<int32_t>(event->getProcessorId()), static_cast<uint8_t>(event->getLine()),
                           static_cast<uint8_t>(event->getState() ? 1 : 0)});
}

void PythonProcessor::handleSpike(SpikePtr spike) {
    const SpikeChannel* channel = spike->getChannelInfo();
    if (spike->getStreamId() != builtStreamId) return;
    const pyproc_spike view{spike->getSampleNumber(),
                            channel->getName().toRawUTF8(),
                            static_cast<int32_t>(spike->getProcessorId()),
                            spike->getSortedId(),
                            static_cast<int32_t>(channel->getNumChannels()),
                            static_cast<int32_t>(channel->getTotalSamples()),
                            spike->getDataPointer()};
    blockSpikes.push_back(view);
    blockSpikeRefs.emplace_back(spike.release());  // its data stays valid until run_block has delivered it
}

bool PythonProcessor::startAcquisition() {
    // The stream's channels are contiguous in the GUI's buffer from its first channel's global
    // index, final once the chain is updated; found here, not per block (it allocates).
    const DataStream* stream = builtStreamId ? getDataStream(builtStreamId) : nullptr;
    firstChannelIndex = stream && stream->getChannelCount() > 0 ? stream->getContinuousChannels()[0]->getGlobalIndex() : 0;
    derivedInChain = 0;
    for (const auto* channel : stream ? stream->getContinuousChannels() : Array<ContinuousChannel*>())
        if (channel->getSourceNodeId() == getNodeId() && derivedInChain++ == 0) firstDerivedIndex = channel->getGlobalIndex();
    std::lock_guard<std::mutex> lock(engineMutex);
    if (api && instance) runner->start_acquisition(instance);
    return true;  // an errored module passes data through; it never stops acquisition
}

bool PythonProcessor::stopAcquisition() {
    // The GUI stops its audio callbacks only after this: a block may still come, and skip.
    std::lock_guard<std::mutex> lock(engineMutex);
    deliverRecordingCalls(true);
    if (api && instance) runner->stop_acquisition(instance);
    return true;
}

// Recording starts and stops while blocks flow: the calls wait for the audio thread's next block
// (or the end of acquisition), so that the audio thread never finds the engine busy and skips one.
void PythonProcessor::startRecording() {
    queueRecordingCall(true, recordingFolder(this).getFullPathName().toStdString());
}

void PythonProcessor::stopRecording() { queueRecordingCall(false, {}); }

void PythonProcessor::queueRecordingCall(bool start, const std::string& folder) {
    std::lock_guard<std::mutex> lock(recordingMutex);
    if (pendingRecordingCalls == recordingCalls.size() || folder.size() >= recordingCalls[0].folder.size()) {
        LOGE("Python Processor: ", start ? "start_recording" : "stop_recording", " was not delivered to the module (",
             folder.size() >= recordingCalls[0].folder.size() ? "the recording folder's path is too long" : "too many pending",
             ")");
        return;
    }
    RecordingCall& call = recordingCalls[pendingRecordingCalls++];
    call.start = start;
    std::memcpy(call.folder.data(), folder.c_str(), folder.size() + 1);
    recordingCallsWaiting.store(true, std::memory_order_release);
}

// With engineMutex held. The audio thread only tries the queue's lock: if the message thread holds
// it this instant, the calls go with the next block.
void PythonProcessor::deliverRecordingCalls(bool mayWait) {
    if (!mayWait && !recordingCallsWaiting.load(std::memory_order_acquire)) return;  // most blocks: no lock at all
    std::unique_lock<std::mutex> lock(recordingMutex, std::defer_lock);
    if (mayWait) lock.lock();
    else if (!lock.try_lock()) return;
    for (size_t i = 0; api && instance && i < pendingRecordingCalls; ++i) {  // in order: start, stop, start...
        if (recordingCalls[i].start) runner->start_recording(instance, recordingCalls[i].folder.data());
        else runner->stop_recording(instance);
    }
    pendingRecordingCalls = 0;
    recordingCallsWaiting.store(false, std::memory_order_release);
}

void PythonProcessor::timerCallback() {
    refreshStatus();
    updateChainForDerivedChannels();
}

void PythonProcessor::refreshStatus() {
    Status next;
    if (const auto* running = pyproc::loader::loaded_engine())
        next.pythonHome = "Python " + String(running->python_version) + " from " +
                          String(running->home.root.u8string()) + " (" + homeSource + ")";
    next.isolated = instance ? builtIsolated : isolated();
    if (api && instance) {  // percentiles from the engine's histogram: here, never on the audio thread
        pyproc_latency latency{};
        runner->latency(instance, &latency);
        next.p50Us = latency.p50_us;
        next.p99Us = latency.p99_us;
        next.calls = latency.calls;
        next.overruns = latency.overruns;
        next.late = latency.late;
        next.workerPriority = latency.worker_priority;
    }
    const DataStream* stream = builtStreamId ? getDataStream(builtStreamId) : nullptr;
    next.bufferUs = liveBufferUs;
    const double deadlineMs = static_cast<double>(getParameter(deadlineParameter)->getValue());
    next.deadlineUs = deadlineMs > 0 ? 1000.0 * deadlineMs : next.bufferUs / 2;
    reapViewerLaunches();
    next.live = liveStatus();
    next.viewerUnavailable = viewerUnavailableReason();
    if (viewerProblemIsHome && next.viewerUnavailable.isEmpty()) viewerProblem.clear();
    const String scriptName = File(builtScript).getFileName();
    if (!api) {
        next.stage = Stage::noPython;
        next.headline = "no Python";
        next.details = homeProblem;
    } else if (!instance) {
        next.stage = Stage::noModule;
        next.headline = stream ? "no module" : "no input stream";
    } else {
        // state, error and warnings may be read while the audio thread is in the engine: the
        // status holds engineMutex only once a module finished loading in its worker, to declare
        // its parameters.
        const int state = runner->state(instance);
        const bool loaded = state != lastState && lastState == PYPROC_LOADING &&
                            (state == PYPROC_READY || state == PYPROC_ERRORED);
        lastState = state;
        if (loaded && !syncingParameters) {
            std::lock_guard<std::mutex> lock(engineMutex);
            syncModuleParameters();
        }
        if (state == PYPROC_ERRORED) {
            next.stage = Stage::errored;
            next.headline = "error in " + scriptName;
            next.details = engineText(runner->error_text, instance);
        } else if (state == PYPROC_LOADING) {
            next.stage = Stage::loading;
            next.headline = "loading: " + scriptName;
        } else if (state == PYPROC_CRASHED || state == PYPROC_STUCK) {
            next.stage = state == PYPROC_CRASHED ? Stage::crashed : Stage::stuck;
            next.headline = (state == PYPROC_CRASHED ? "crashed: " : "stuck: ") + scriptName;
            next.details = engineText(runner->error_text, instance);
        } else if (state == PYPROC_READY) {
            next.stage = Stage::ready;
            next.headline = "ready: " + scriptName;
        } else {
            next.stage = Stage::noModule;
            next.headline = "no module";
        }
        moduleWarnings = engineText(runner->warning_text, instance);
    }
    // Every warning that applies, one per line: they are derived anew each time.
    StringArray warnings;
    warnings.add(restartWarning);
    if (instance) warnings.add(moduleWarnings);
    warnings.add(lastRefusal);
    warnings.add(viewerProblem);
    const auto found = outputs.find(builtStreamId);
    if (warnedSpikeShape && found != outputs.end() && found->second.spikes)
        warnings.add("spikes from Python were fitted to the GUI's spike channel (1 channel, " +
                     String(found->second.spikes->getTotalSamples()) + " samples)");
    warnings.removeEmptyStrings();
    next.warning = warnings.joinIntoString("\n");
    if (next.stage == Stage::errored || next.stage == Stage::crashed || next.stage == Stage::stuck)
        logNewError(next.details);
    ScopedLock lock(statusLock);
    current = next;
}

// The engine's live_status (it reads only atomics: no engineMutex) and the running viewer's URL, from
// viewer.json in the ring file's folder (that folder is the live dir: its rule stays in the engine).
// Message thread.
var PythonProcessor::liveStatus() {
    var live = api && instance ? JSON::parse(engineText(runner->live_status, instance)) : var();
    if (!live.isObject()) {
        auto* none = new DynamicObject();
        none->setProperty("path", "");
        none->setProperty("error", !api ? "no Python" : "no module instance");
        none->setProperty("names", Array<var>());
        live = var(none);
    }
    const String path = live["path"].toString();
    if (path.isNotEmpty()) liveDir = File::getCurrentWorkingDirectory().getChildFile(path).getParentDirectory();
    var viewer;  // null: no viewer runs
    const File viewerFile = liveDir == File() ? File() : liveDir.getChildFile("viewer.json");
    MemoryBlock content;
    if (viewerFile != File() && viewerFile.loadFileAsData(content)) {
        const auto url = pyproc::common::running_viewer_url(
            std::string(static_cast<const char*>(content.getData()), content.getSize()), pyproc::common::processAlive);
        if (url) viewer = String::fromUTF8(url->c_str());
    }
    live.getDynamicObject()->setProperty("viewer", viewer);
    return live;
}

String PythonProcessor::viewerUnavailableReason() const {
    const auto* running = pyproc::loader::loaded_engine();
    if (!api || running == nullptr)
        return "no Python Home is in use" + (homeProblem.isNotEmpty() ? ": " + homeProblem : String());
    const File python(String(running->home.executable.u8string()));
    if (!python.existsAsFile())
        return "the Python Home's interpreter " + python.getFullPathName() + " does not exist";
    return {};
}

String PythonProcessor::openLiveView() {
    String problem = viewerUnavailableReason();
    viewerProblemIsHome = problem.isNotEmpty();
    if (problem.isEmpty()) {
        const std::string python = pyproc::loader::loaded_engine()->home.executable.u8string();
        const String command = String::fromUTF8(python.c_str()) + " -m oe_pyproc view --open";
        // Its output is appended to viewer.log beside viewer.json (once a ring file says where that
        // is), after a line naming the launch; the log starts anew past 1 MiB.
        const File log = liveDir == File() ? File() : liveDir.getChildFile("viewer.log");
        if (log != File()) {
            log.getParentDirectory().createDirectory();
            if (log.getSize() > 1024 * 1024) log.deleteFile();
            log.appendText("== " + Time::getCurrentTime().toISO8601(true) + " Python Processor " + String(getNodeId()) +
                           ": " + command + "\n");
        }
        pyproc::common::DetachedProcess started;
        const std::string error = pyproc::common::startDetached(
            {python, "-m", "oe_pyproc", "view", "--open"}, log == File() ? std::string() : log.getFullPathName().toStdString(),
            &started);
        if (error.empty()) {
            viewerLaunches.push_back(started);
            viewerProblem.clear();
            LOGC("Python Processor: opening the live viewer: ", command,
                 log == File() ? String() : " (its output: " + log.getFullPathName() + ")");
            return {};
        }
        problem = String::fromUTF8(error.c_str());
    }
    viewerProblem = "Live view: " + problem;
    LOGE("Python Processor: ", viewerProblem);
    return viewerProblem;
}

// The processes the Live view button started: each is reaped once it ends (no zombie is left), and
// one that failed (an env without oe_pyproc or bokeh, a port in use) is reported with its log's end.
void PythonProcessor::reapViewerLaunches() {
    auto& orphans = orphanedViewerLaunches();
    for (auto orphan = orphans.begin(); orphan != orphans.end();)
        orphan = pyproc::common::reapIfEnded(*orphan) ? orphans.erase(orphan) : orphan + 1;
    for (auto launched = viewerLaunches.begin(); launched != viewerLaunches.end();) {
        const auto status = pyproc::common::reapIfEnded(*launched);
        if (!status) {
            ++launched;
            continue;
        }
        launched = viewerLaunches.erase(launched);
        if (*status == 0) continue;  // it opened a running viewer, or a viewer was stopped
        const File log = liveDir == File() ? File() : liveDir.getChildFile("viewer.log");
        StringArray lines;
        if (log.existsAsFile()) lines.addLines(log.loadFileAsString().trimEnd());
        lines.removeRange(0, lines.size() - 3);
        viewerProblem = "Live view: the viewer exited with status " + String(*status) +
                        (lines.isEmpty() ? String() : ": " + lines.joinIntoString(" / ")) +
                        (log.existsAsFile() ? " (log: " + log.getFullPathName() + ")" : String());
        LOGE("Python Processor: ", viewerProblem);
    }
}

void PythonProcessor::logNewError(const String& error) {
    // Each new error once, at most one per second: an errored module stays errored until
    // reloaded, so an error held back now is logged on a later tick.
    const int64 now = Time::currentTimeMillis();
    if (error.isEmpty() || error == lastLoggedError || now - lastLogMillis < 1000) return;
    LOGE("Python Processor (", getNodeId(), "): ", error);
    lastLoggedError = error;
    lastLogMillis = now;
}

PythonProcessor::Status PythonProcessor::status() const {
    ScopedLock lock(statusLock);
    return current;
}

String PythonProcessor::statusJson() const {
    const Status now = status();
    static const char* const stages[] = {"no_python", "no_module", "ready", "errored", "loading", "crashed", "stuck"};
    auto* object = new DynamicObject();
    object->setProperty("state", stages[static_cast<int>(now.stage)]);
    object->setProperty("headline", now.headline);
    object->setProperty("details", now.details);
    object->setProperty("python_home", now.pythonHome);
    object->setProperty("warning", now.warning);
    object->setProperty("p50_us", now.p50Us);
    object->setProperty("p99_us", now.p99Us);
    object->setProperty("buffer_us", now.bufferUs);
    object->setProperty("calls", (int64) now.calls);
    object->setProperty("overruns", (int64) now.overruns);
    object->setProperty("mode", now.isolated ? "isolated" : "in-process");
    object->setProperty("late", (int64) now.late);
    object->setProperty("worker_priority", now.workerPriority);
    object->setProperty("deadline_us", now.deadlineUs);
    object->setProperty("live", now.live);
    return JSON::toString(var(object), true);
}

String PythonProcessor::handleConfigMessage(const String& message) {
    const String command = message.trim().toLowerCase();
    if (command == "reload") reload();
    else if (command == "live_view") openLiveView();
    else if (command != "status") return "unknown command '" + message + "': use 'status', 'reload' or 'live_view'";
    refreshStatus();
    return statusJson();
}
