// Recycling workers: --reload-on-rss / --reload-on-as (the worker checks itself after each
// request), --evil-reload-on-rss/-as and --max-worker-lifetime (the master checks), and what the
// master logs of a stuck worker with --harakiri-verbose.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "host.h"

namespace uwsgi {

struct RecycleSettings {
  uint64_t rss_bytes = 0;       // --reload-on-rss MB (0: off)
  uint64_t as_bytes = 0;        // --reload-on-as MB
  uint64_t evil_rss_bytes = 0;  // --evil-reload-on-rss MB
  uint64_t evil_as_bytes = 0;   // --evil-reload-on-as MB
  uint64_t max_lifetime_ms = 0;
  uint64_t lifetime_delta_ms = 0;  // worker N waits (N-1) x this longer
  uint64_t min_lifetime_ms = 0;  // --max-requests / --reload-on-rss / -as wait until a worker is this old
};
RecycleSettings read_recycle_settings(const Config& cfg);
// Range checks for main(): a bad value stops start-up naming the option.
bool check_recycle_options(const Config& cfg, std::string* err);

struct ProcessMemory {
  uint64_t rss_bytes = 0, as_bytes = 0;
};
// From /proc/PID/statm (pid 0: this process).
bool read_process_memory(pid_t pid, ProcessMemory* out);

// In a worker after a request: the reason to recycle (for the log), or nullptr.
const char* memory_recycle_reason(const RecycleSettings& r, ProcessMemory* seen);
// In the master, of a worker: the --evil-reload-on-* option it is over (nullptr: none), with the
// value seen and the limit, in bytes.
const char* evil_recycle_reason(const RecycleSettings& r, pid_t pid, uint64_t* seen, uint64_t* limit);

// --harakiri-verbose: the stuck process's current system call and wait channel.
void log_stuck_process(pid_t pid);

}  // namespace uwsgi
