// Links isolated mode's client for Windows (named file mapping and events, a job object for the
// worker): every entry of the isolated table resolves. Built by cross_compile_loader.sh.
#include <isolated_engine.h>

int main() { return pyproc::isolation::worker_program("pyproc_engine_cp310.dll").empty() ? 1 : 0; }
