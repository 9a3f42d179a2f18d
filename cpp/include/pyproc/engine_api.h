/* The engine's C ABI: the only boundary between Python and its hosts (the
 * GUI plugin and pyproc-host). Plain C types only; no exception and no Python
 * error ever crosses it. Every entry takes the GIL itself, so any thread may
 * call, but calls on one instance must not overlap, except state, error_text,
 * warning_text, latency, parameters, set_parameter and live_status, which may be
 * called while another thread is inside run_block() (a GUI reads the status and
 * takes parameter changes without ever making the audio thread wait for them).
 *
 * The loader resolves PYPROC_ENGINE_ENTRY with dlsym/GetProcAddress and checks
 * abi_version before using anything else. */
#ifndef PYPROC_ENGINE_API_H
#define PYPROC_ENGINE_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PYPROC_ENGINE_ABI_VERSION 7u
#define PYPROC_ENGINE_ENTRY "pyproc_engine_entry"

#if defined(_WIN32)
#define PYPROC_ENGINE_EXPORT __declspec(dllexport)
#else
#define PYPROC_ENGINE_EXPORT __attribute__((visibility("default")))
#endif

typedef struct pyproc_instance pyproc_instance;

typedef enum {
    PYPROC_NO_MODULE = 0, /* created without a script */
    PYPROC_READY = 1,     /* module loaded, PyProcessor constructed */
    PYPROC_ERRORED = 2,   /* a Python error: data passes through, error_text says why */
    /* Only an isolated instance (cpp/isolation) is in these; error_text says why, with the Python stack. */
    PYPROC_LOADING = 3,   /* its worker process is starting, or the module's __init__ is running */
    PYPROC_CRASHED = 4,   /* its worker process died (a signal, an exit, the OOM killer) or was stopped */
    PYPROC_STUCK = 5      /* a call into the module has not returned for longer than the stuck limit */
} pyproc_state;

typedef struct {
    const char* python_home;  /* PyConfig.home, UTF-8; NULL or "" for a venv (found from program_name) */
    const char* program_name; /* the env's python executable, UTF-8: sets sys.executable */
} pyproc_start_options;

/* The stream an instance processes. */
typedef struct {
    int32_t num_channels;
    double sample_rate;
    const char* const* channel_names; /* num_channels UTF-8 names, or NULL: derived channels may not take them */
    double bit_volts;                 /* the first channel's; a derived channel's default (0: unknown, 1.0) */
} pyproc_stream;

typedef struct {
    int64_t sample_number;
    uint8_t line;  /* 0-255 */
    uint8_t state; /* 1 rising, 0 falling */
} pyproc_ttl_event;

/* A TTL event of the chain, delivered to handle_ttl_event(). */
typedef struct {
    int64_t sample_number;
    const char* channel_name;
    int32_t source_node;
    uint8_t line;
    uint8_t state; /* nonzero: on */
} pyproc_ttl_input;

typedef struct {
    int64_t sample_number;
    const char* electrode_name;
    int32_t source_node;
    uint16_t sorted_id;
    int32_t num_channels;
    int32_t num_samples;
    const float* waveform; /* num_channels x num_samples, row-major */
} pyproc_spike;

/* One buffer of the chain: its channels (edited in place), and the events and
 * spikes that belong to it, delivered before process(). */
typedef struct {
    int64_t first_sample_number;
    int32_t num_samples;
    float* const* channels; /* num_channels pointers; evenly spaced ones reach Python without a copy */
    int32_t num_channels;
    const pyproc_ttl_input* events;
    size_t num_events;
    const pyproc_spike* spikes;
    size_t num_spikes;
    uint32_t flags; /* PYPROC_BLOCK_*: 0 from the GUI plugin and the host */
    /* The module's derived channels (derived_channels(), in order): num_derived pointers of num_samples
     * floats that run_block fills, with the module's values or, where it did not complete process()
     * (errored, late, gone), zeros. Fewer than declared: the rest are computed and dropped. */
    float* const* derived;
    int32_t num_derived;
} pyproc_block;

/* pyproc-worker: the channels' memory may be lent to process() (become_worker). */
#define PYPROC_BLOCK_LEND 1u

/* What Python sent to the chain since the outputs were last taken (threads of
 * the module may send at any time); the pointers stay valid until the next
 * run_block(), outputs() or clear_outputs(). */
typedef struct {
    const pyproc_ttl_event* events;
    size_t num_events;
    const pyproc_spike* spikes;
    size_t num_spikes;
} pyproc_outputs;

typedef struct {
    uint64_t calls;
    uint64_t overruns; /* calls slower than the buffer's real-time duration */
    uint64_t late;     /* isolated: buffers that passed through untouched, the module being late or gone */
    double p50_us;
    double p99_us;
    double max_us;
    int32_t worker_priority; /* isolated: the SCHED_FIFO priority the module runs at while acquiring; 0: the normal
                                priority; -1: the normal one, the system having refused the audio thread's */
} pyproc_latency;

typedef struct {
    uint32_t abi_version;

    /* Starts the one interpreter of this process; later calls succeed only for the
     * same home. Returns 0, or -1 with a message in err. Never finalized. */
    int (*start)(const pyproc_start_options* options, char* err, size_t err_len);
    /* sys.version's first word (e.g. "3.10.13") once started. */
    size_t (*python_version)(char* out, size_t len);

    /* A new instance; loads script_path (UTF-8, may be NULL or "") and constructs
     * PyProcessor(processor, stream->num_channels, stream->sample_rate). parameter_values (NULL, or a JSON
     * object name -> value or text: saved in a chain, --param) are the module's parameters'
     * values from before __init__; what does not fit is reported by parameters(). Never NULL
     * once started. */
    pyproc_instance* (*create)(const char* script_path, const pyproc_stream* stream, const char* parameter_values);
    void (*destroy)(pyproc_instance* instance);
    /* Re-imports the script and the helper modules beside it, then constructs a
     * new PyProcessor. Returns the new state. */
    pyproc_state (*reload)(pyproc_instance* instance);
    pyproc_state (*state)(const pyproc_instance* instance);
    /* The last error with its traceback, "" if none. Returns the full length. */
    size_t (*error_text)(const pyproc_instance* instance, char* out, size_t len);
    /* Warnings about how the module behaves (one per line), "" if none. */
    size_t (*warning_text)(const pyproc_instance* instance, char* out, size_t len);

    /* The per-buffer sequence, the one both the GUI plugin and pyproc-host run, under one hold
     * of the GIL: the block's events (handle_ttl_event) and spikes (handle_spike), process()
     * (add_python_event offsets count from the block's start), then what Python sent, in out;
     * the call's duration goes into latency(). Allocates nothing of the engine's own once warm. */
    void (*run_block)(pyproc_instance* instance, const pyproc_block* block, pyproc_outputs* out);
    void (*start_acquisition)(pyproc_instance* instance);
    void (*stop_acquisition)(pyproc_instance* instance);
    void (*start_recording)(pyproc_instance* instance, const char* recording_dir);
    void (*stop_recording)(pyproc_instance* instance);

    void (*outputs)(pyproc_instance* instance, pyproc_outputs* out);
    void (*clear_outputs)(pyproc_instance* instance);
    /* Percentiles of the recent run_block() calls, from a fixed histogram: cheap, but not for
     * every block. */
    void (*latency)(const pyproc_instance* instance, pyproc_latency* out);
    /* The module's declared parameters as JSON: {"parameters": [{"name", "type", "default",
     * "value", "description", and "min"/"max"/"unit" or "options"}], "problems": [what of the
     * given values was not used, in words], "refused": [those the declarations refused]}.
     * Returns the full length. */
    size_t (*parameters)(pyproc_instance* instance, char* out, size_t len);
    /* Asks for a parameter change (value: JSON, or text as --param gives it). Checked now:
     * 0, or -1 with the refusal (naming the parameter and the allowed values) in err and the
     * old value kept. Applied before the next process(), then parameter_changed(name, value). */
    int (*set_parameter)(pyproc_instance* instance, const char* name, const char* value, char* err, size_t err_len);

    /* Live values (docs/live.md). set_host_fields: the host's fields for the instance's ring meta, a JSON
     * object such as {"program": "pyproc-host", "node_id": 105}. live_status: {"path": the ring file
     * ("" without one), "error": why there is none, "names": [{"name", "kind", "count"}]}; returns the
     * full length. */
    void (*set_host_fields)(pyproc_instance* instance, const char* host_fields_json);
    size_t (*live_status)(const pyproc_instance* instance, char* out, size_t len);

    /* Isolation (docs/isolation.md). set_limits: how long run_block waits for an isolated module
     * (deadline_us, 0: half the buffer's duration) and after how long a call that has not returned
     * makes the instance PYPROC_STUCK; an in-process instance runs on the caller's thread and
     * ignores both. become_worker: called once by pyproc-worker before any create: each buffer's
     * memory is lent to process() as a C-contiguous view and never filled again while the module
     * holds it (as fresh as the published plugin's `data`, without its copy), and Python's stacks go
     * to fault_report_path on a fatal signal (and, on POSIX, on SIGUSR1). 0, or -1 and err. */
    void (*set_limits)(pyproc_instance* instance, double deadline_us, double stuck_after_s);
    int (*become_worker)(const char* fault_report_path, char* err, size_t err_len);
    /* Worker: nonzero while the module holds an array it was lent over memory starting at address. */
    int (*memory_in_use)(pyproc_instance* instance, const void* address);

    /* The continuous channels the module adds to its stream (docs/derived.md), as JSON: {"known": false
     * while no load of the module has declared them (loading, or it failed first), else true, and
     * "channels": [{"name", "unit", "description", "bit_volts"}]}; a later failed load keeps the last
     * known ones. Returns the full length. */
    size_t (*derived_channels)(const pyproc_instance* instance, char* out, size_t len);
} pyproc_engine_api;

typedef const pyproc_engine_api* (*pyproc_engine_entry_fn)(void);

PYPROC_ENGINE_EXPORT const pyproc_engine_api* pyproc_engine_entry(void);

#ifdef __cplusplus
}
#endif

#endif
