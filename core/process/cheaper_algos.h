// The cheaper algorithms (uWSGI's --cheaper-algo): once a second each one sees what the workers
// did and answers how many workers to add, or whether to stop one. Pure logic, no process or
// clock of its own: the driver (cheaper.h) samples the scoreboard, keeps the count between
// --cheaper and --processes, applies the rss limits and picks the workers.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace uwsgi {

struct CheaperParams {
  int min = 1;       // --cheaper (spare2: also the idle workers it keeps)
  int max = 2;       // --processes
  int initial = 1;   // --cheaper-initial
  int step = 1;      // --cheaper-step
  int overload = 3;  // --cheaper-overload: seconds (spare, busyness's window) or a queue length (backlog)
  int idle = 10;     // --cheaper-idle (spare2): seconds with too many idle workers before one goes
  // busyness (percentages, cycle counts, seconds)
  int busy_min = 25, busy_max = 50, multiplier = 10, penalty = 1;
  int backlog_alert = 33, backlog_step = 1, backlog_multiplier = 3, backlog_nonzero = 60;
  bool verbose = false;
};

// What the workers did during the last tick (about a second).
struct CheaperTick {
  uint64_t now_ms = 0;
  int running = 0;   // workers kept (serving, starting, or being replaced), not cheaped
  int idle = 0;      // of them, those that could take another request now
  long backlog = 0;  // connections waiting in the listen queues (TCP)
  struct Share {
    int id;
    double busy_ms;   // time with requests in progress (a share of the cores under --threads)
    double alive_ms;  // time it ran
  };
  std::vector<Share> shares;
};

struct CheaperDecision {
  int delta = 0;                   // > 0: spawn that many; < 0: stop one; 0: keep
  bool emergency = false;          // busyness: spawned for the listen queue, not for busyness
  std::string why;                 // for the log line
  std::vector<std::string> notes;  // --cheaper-busyness-verbose lines
};

class CheaperAlgo {
 public:
  virtual ~CheaperAlgo() = default;
  virtual CheaperDecision decide(const CheaperTick& t) = 0;
};

// "spare", "spare2", "backlog", "busyness", "manual".
const std::vector<std::string>& cheaper_algo_names();
// Null for a name not in the list.
std::unique_ptr<CheaperAlgo> make_cheaper_algo(const std::string& name, const CheaperParams& p);

}  // namespace uwsgi
