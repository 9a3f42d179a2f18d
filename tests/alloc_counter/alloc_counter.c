/* Counts heap allocations and frees made inside pyproc-host's per-buffer window: the engine's
 * run_block, the sequence the GUI plugin runs on its audio thread. LD_PRELOADed by
 * tests/test_audio_thread.py (glibc only: it forwards to __libc_malloc and friends).
 *
 * The host calls pyproc_alloc_window(1) before each run_block and (0) after, on the thread that
 * calls it; only that thread, inside the window, after PYPROC_ALLOC_WARMUP windows, is counted. At
 * exit the counts and the callers of the first allocations go to PYPROC_ALLOC_REPORT as JSON. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void* __libc_malloc(size_t size);
extern void* __libc_calloc(size_t count, size_t size);
extern void* __libc_realloc(void* pointer, size_t size);
extern void __libc_free(void* pointer);
extern void* __libc_memalign(size_t alignment, size_t size);

#define MAX_CALLERS 32

static __thread int in_window;
static atomic_long windows;
static long warmup = -1; /* read once, at the first window */
static atomic_long allocations, frees;
static void* callers[MAX_CALLERS];
static const char* caller_kinds[MAX_CALLERS];
static atomic_int caller_count;

static void note(const char* kind, void* caller, int is_free) {
    if (!in_window || atomic_load(&windows) <= warmup) return;
    if (is_free) {
        atomic_fetch_add(&frees, 1);
    } else {
        atomic_fetch_add(&allocations, 1);
    }
    int slot = atomic_fetch_add(&caller_count, 1);
    if (slot < MAX_CALLERS) {
        callers[slot] = caller;
        caller_kinds[slot] = kind;
    }
}

__attribute__((visibility("default"))) void pyproc_alloc_window(int on) {
    if (on) {
        if (warmup < 0) {
            const char* text = getenv("PYPROC_ALLOC_WARMUP");
            warmup = text ? atol(text) : 0;
        }
        atomic_fetch_add(&windows, 1);
    }
    in_window = on;
}

void* malloc(size_t size) {
    note("malloc", __builtin_return_address(0), 0);
    return __libc_malloc(size);
}

void* calloc(size_t count, size_t size) {
    note("calloc", __builtin_return_address(0), 0);
    return __libc_calloc(count, size);
}

void* realloc(void* pointer, size_t size) {
    note("realloc", __builtin_return_address(0), 0);
    return __libc_realloc(pointer, size);
}

void free(void* pointer) {
    if (pointer) note("free", __builtin_return_address(0), 1);
    __libc_free(pointer);
}

int posix_memalign(void** out, size_t alignment, size_t size) {
    note("posix_memalign", __builtin_return_address(0), 0);
    void* pointer = __libc_memalign(alignment, size);
    if (!pointer) return 12; /* ENOMEM */
    *out = pointer;
    return 0;
}

void* aligned_alloc(size_t alignment, size_t size) {
    note("aligned_alloc", __builtin_return_address(0), 0);
    return __libc_memalign(alignment, size);
}

void* memalign(size_t alignment, size_t size) {
    note("memalign", __builtin_return_address(0), 0);
    return __libc_memalign(alignment, size);
}

__attribute__((destructor)) static void report(void) {
    const char* path = getenv("PYPROC_ALLOC_REPORT");
    if (!path) return;
    FILE* out = fopen(path, "w");
    if (!out) return;
    fprintf(out, "{\"windows\": %ld, \"warmup\": %ld, \"allocations\": %ld, \"frees\": %ld, \"callers\": [",
            atomic_load(&windows), warmup, atomic_load(&allocations), atomic_load(&frees));
    const int count = atomic_load(&caller_count) < MAX_CALLERS ? atomic_load(&caller_count) : MAX_CALLERS;
    for (int i = 0; i < count; ++i) {
        Dl_info info;
        memset(&info, 0, sizeof info);
        dladdr(callers[i], &info);
        fprintf(out, "%s{\"kind\": \"%s\", \"object\": \"%s\", \"symbol\": \"%s\", \"offset\": %ld}", i ? ", " : "",
                caller_kinds[i], info.dli_fname ? info.dli_fname : "?", info.dli_sname ? info.dli_sname : "?",
                (long)((char*)callers[i] - (char*)(info.dli_saddr ? info.dli_saddr : info.dli_fbase)));
    }
    fprintf(out, "]}\n");
    fclose(out);
}
