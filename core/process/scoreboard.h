// The scoreboard: one small struct per worker in a MAP_SHARED|MAP_ANONYMOUS area the master maps
// before forking. Workers publish what they are doing (request start time and URI, counters);
// the master reads it for --harakiri and --stats, and writes what only it knows (pid, respawns).
// The uWSGI signal table lives here too, so the master can route signals that workers registered.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace uwsgi {

constexpr int kMaxSignals = 256;
constexpr size_t kUriMax = 256;
constexpr size_t kTargetMax = 32;
constexpr size_t kCoreUriMax = 128;

// Worker-owned; read by SIGUSR2 reports (status_report.h) to say what each core is running.
struct CoreBoard {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint32_t> busy{0};
  std::atomic<uint64_t> started_ms{0};  // CLOCK_MONOTONIC ms when the current request started
  std::atomic<uint32_t> uri_seq{0};     // odd while uri is being written
  char uri[kCoreUriMax];                // URI of the core's current (or last) request
};

struct WorkerBoard {
  // Master-owned.
  std::atomic<int32_t> pid{0};
  std::atomic<uint64_t> last_spawn{0};     // unix time
  std::atomic<uint64_t> respawn_count{0};
  std::atomic<uint64_t> harakiri_count{0};
  std::atomic<uint64_t> delta_base{0};     // requests at the previous stats read (delta_requests)
  std::atomic<uint32_t> cheaped{0};        // 1 while --cheaper keeps this worker stopped
  // Worker-owned.
  std::atomic<int32_t> busy_cores{0};       // requests in progress
  std::atomic<uint32_t> apps_loaded{0};      // 1 once the worker has its apps (--lazy-apps)
  std::atomic<uint64_t> last_progress_ms{0};  // CLOCK_MONOTONIC ms of the last request start/end
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> exceptions{0};
  std::atomic<uint64_t> tx{0};
  std::atomic<uint64_t> signals{0};
  std::atomic<uint64_t> running_time_us{0};  // sum of request durations
  std::atomic<uint32_t> uri_seq{0};          // odd while uri is being written
  char uri[kUriMax];                         // URI of the latest request started
  // uWSGI's meaning, for --stats' "busy", the cheaper algorithms and signal targets alike: busy
  // while any of its cores (threads, async slots) runs a request, idle when none does.
  bool busy() const { return busy_cores.load() > 0; }
};

struct SignalSlot {
  std::atomic<uint8_t> registered{0};
  char target[kTargetMax];  // "", "worker", "workers", "active-workers", "workerN"
};

class Scoreboard {
 public:
  // Maps the area for workers 1..nworkers with ncores per worker; call in the master before fork.
  bool create(int nworkers, int ncores);
  bool ready() const { return base_ != nullptr; }
  int workers() const { return nworkers_; }
  int cores() const { return ncores_; }
  WorkerBoard& worker(int id);  // 1-based
  CoreBoard& core(int worker_id, int core_id);
  // The signal table is mapped on first use (registration while the master loads apps) or by
  // the master before forking, whichever comes first, so every process sees the same one.
  bool ensure_signal_table();
  SignalSlot* signal(int num) { return ensure_signal_table() ? &signals_[num & 0xff] : nullptr; }

  // Worker side: a request starts / ends on core_id.
  void request_start(int worker_id, int core_id, const char* uri, size_t uri_len);
  void request_end(int worker_id, int core_id, uint64_t duration_us, bool exception);
  // Copy of the URI of worker_id's latest request (consistent or empty).
  void read_uri(int worker_id, char* out, size_t n);
  // Same for one core's request (no allocation, no lock: usable in a signal handler).
  void read_core_uri(int worker_id, int core_id, char* out, size_t n);

 private:
  void* base_ = nullptr;
  size_t size_ = 0;
  int nworkers_ = 0, ncores_ = 0;
  WorkerBoard* workers_ = nullptr;
  CoreBoard* cores_ = nullptr;
  SignalSlot* signals_ = nullptr;
};

// The process's scoreboard (empty until the master creates it).
Scoreboard& scoreboard();
uint64_t monotonic_ms();

}  // namespace uwsgi
