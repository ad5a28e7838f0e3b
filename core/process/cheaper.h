// Adaptive workers (uWSGI's cheaper subsystem): --processes is the maximum, --cheaper N the
// minimum kept running, --cheaper-initial how many start. Once a second the algorithm
// (cheaper_algos.h) says whether to spawn or stop workers; the master does it. A stopped
// ("cheaped") worker is asked to go like a recycled one: it finishes what it serves, and its slot
// stays empty (status "cheap" in --stats) until the algorithm wants it again.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "host.h"
#include "net/listener.h"
#include "process/cheaper_algos.h"

namespace uwsgi {

// The --cheaper* options, registered with the core's.
void register_cheaper_options(HostImpl& host);
// --cheaper-algos-list: prints the algorithms' names; true when it did (main() then exits).
bool print_cheaper_algos_if_asked(const Config& cfg);
// Range and consistency checks for main(): a bad value stops start-up naming the option.
bool check_cheaper_options(const Config& cfg, int processes, std::string* err);

// One worker slot as the master sees it.
struct WorkerLife {
  pid_t pid = 0;         // 0: not running
  bool leaving = false;  // the master asked it to go (recycling, reload, cheaper)
};

class Cheaper {
 public:
  // From the (already checked) options; stays off without --cheaper.
  void configure(const Config& cfg, int processes, const std::vector<Listener>* listeners);
  bool enabled() const { return algo_ != nullptr; }
  // A worker the master must not (re)spawn now.
  bool is_cheap(int id) const { return enabled() && id > 0 && id < (int)cheap_.size() && cheap_[id]; }
  int kept() const;  // workers not cheap
  // Every master loop while serving: samples the workers; once a second runs the algorithm.
  // Returns the workers to stop gracefully now (already marked cheap).
  std::vector<int> tick(uint64_t now_ms, const std::function<WorkerLife(int)>& life);
  // The master fifo's '+' (delta 1) and '-' (delta -1): one worker more or fewer, bounded by
  // --cheaper (the fewest) and --processes (the most). Returns the workers to stop gracefully now
  // (already marked cheap); a worker to add is spawned by the master's respawn loop.
  std::vector<int> adjust(int delta, const std::function<WorkerLife(int)>& life);

 private:
  void set_cheap(int id, bool cheap);
  int pick_victim(const std::function<WorkerLife(int)>& life) const;
  uint64_t workers_rss(const std::function<WorkerLife(int)>& life) const;

  CheaperParams p_;
  std::string algo_name_;
  std::unique_ptr<CheaperAlgo> algo_;
  const std::vector<Listener>* listeners_ = nullptr;
  uint64_t rss_soft_ = 0, rss_hard_ = 0;  // --cheaper-rss-limit-soft/-hard, bytes
  bool soft_said_ = false;                // the soft limit's refusal was logged (once per episode)
  std::vector<char> cheap_;               // by worker id
  std::vector<CheaperTick::Share> shares_;  // by worker id, since the last decision
  uint64_t last_sample_ms_ = 0, next_decision_ms_ = 0;
};

}  // namespace uwsgi
