#include "process/scoreboard.h"

#include <sys/mman.h>
#include <time.h>

#include <cstring>
#include <new>

namespace uwsgi {

Scoreboard& scoreboard() {
  static Scoreboard sb;
  return sb;
}

uint64_t monotonic_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void* map_shared(size_t n) {
  void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;  // zero-filled: every atomic starts at 0
}

bool Scoreboard::create(int nworkers, int ncores) {
  if (base_) return true;
  if (ncores < 1) ncores = 1;
  size_t wsz = sizeof(WorkerBoard) * (nworkers + 1);  // slot 0 unused: ids are 1-based
  size_t csz = sizeof(CoreBoard) * (size_t)(nworkers + 1) * ncores;
  base_ = map_shared(wsz + csz);
  if (!base_) return false;
  size_ = wsz + csz;
  nworkers_ = nworkers;
  ncores_ = ncores;
  workers_ = static_cast<WorkerBoard*>(base_);
  cores_ = reinterpret_cast<CoreBoard*>(static_cast<char*>(base_) + wsz);
  for (int i = 0; i <= nworkers; i++) new (&workers_[i]) WorkerBoard();
  for (size_t i = 0; i < (size_t)(nworkers + 1) * ncores; i++) new (&cores_[i]) CoreBoard();
  return true;
}

bool Scoreboard::ensure_signal_table() {
  if (signals_) return true;
  void* p = map_shared(sizeof(SignalSlot) * kMaxSignals);
  if (!p) return false;
  signals_ = static_cast<SignalSlot*>(p);
  for (int i = 0; i < kMaxSignals; i++) new (&signals_[i]) SignalSlot();
  return true;
}

WorkerBoard& Scoreboard::worker(int id) { return workers_[id < 0 || id > nworkers_ ? 0 : id]; }

CoreBoard& Scoreboard::core(int worker_id, int core_id) {
  if (worker_id < 0 || worker_id > nworkers_) worker_id = 0;
  if (core_id < 0 || core_id >= ncores_) core_id = 0;
  return cores_[(size_t)worker_id * ncores_ + core_id];
}

void Scoreboard::request_start(int worker_id, int core_id, const char* uri, size_t uri_len) {
  if (!base_) return;
  WorkerBoard& w = worker(worker_id);
  // A seqlock-style counter: the master retries (or gives up) while the URI is half written.
  w.uri_seq.fetch_add(1, std::memory_order_acq_rel);
  size_t n = uri_len < kUriMax - 1 ? uri_len : kUriMax - 1;
  memcpy(w.uri, uri, n);
  w.uri[n] = 0;
  w.uri_seq.fetch_add(1, std::memory_order_acq_rel);
  w.last_progress_ms.store(monotonic_ms());
  w.busy_cores.fetch_add(1);
  CoreBoard& c = core(worker_id, core_id);
  c.uri_seq.fetch_add(1, std::memory_order_acq_rel);
  size_t m = uri_len < kCoreUriMax - 1 ? uri_len : kCoreUriMax - 1;
  memcpy(c.uri, uri, m);
  c.uri[m] = 0;
  c.uri_seq.fetch_add(1, std::memory_order_acq_rel);
  c.started_ms.store(monotonic_ms());
  c.busy.store(1);
}

void Scoreboard::request_end(int worker_id, int core_id, uint64_t duration_us, bool exception) {
  if (!base_) return;
  WorkerBoard& w = worker(worker_id);
  w.requests.fetch_add(1);
  if (exception) w.exceptions.fetch_add(1);
  w.running_time_us.fetch_add(duration_us);
  w.last_progress_ms.store(monotonic_ms());
  if (w.busy_cores.load() > 0) w.busy_cores.fetch_sub(1);
  CoreBoard& c = core(worker_id, core_id);
  c.requests.fetch_add(1);
  c.busy.store(0);
}

// A consistent copy of a seqlock-guarded URI (odd sequence: a writer is in the middle), or "".
template <class Board>
static void read_seq_uri(const Board& board, size_t max, char* out, size_t n) {
  out[0] = 0;
  for (int tries = 0; tries < 3; tries++) {
    uint32_t a = board.uri_seq.load(std::memory_order_acquire);
    if (a & 1) continue;
    size_t m = n < max ? n : max;
    memcpy(out, board.uri, m);
    out[m - 1] = 0;
    if (board.uri_seq.load(std::memory_order_acquire) == a) return;
  }
  out[0] = 0;
}

void Scoreboard::read_uri(int worker_id, char* out, size_t n) {
  if (n == 0) return;
  out[0] = 0;
  if (base_) read_seq_uri(worker(worker_id), kUriMax, out, n);
}

void Scoreboard::read_core_uri(int worker_id, int core_id, char* out, size_t n) {
  if (n == 0) return;
  out[0] = 0;
  if (base_) read_seq_uri(core(worker_id, core_id), kCoreUriMax, out, n);
}

}  // namespace uwsgi
