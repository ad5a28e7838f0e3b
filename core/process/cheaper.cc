#include "process/cheaper.h"

#include <algorithm>
#include <cstdio>

#include "config/options.h"
#include "config/values.h"
#include "log/log.h"
#include "process/recycle.h"
#include "process/scoreboard.h"
#include "process/stats.h"

namespace uwsgi {

void register_cheaper_options(HostImpl& host) {
  const OptArg R = OptArg::Required, N = OptArg::None;
  host.add_option(make_option("cheaper", 0, R,
                              "adaptive workers: keep at least this many running (--processes is the most); 0: off",
                              {}, true));
  host.add_option(make_option("cheaper-initial", 0, R, "workers started first in cheaper mode (default --cheaper)",
                              {}, true));
  host.add_option(make_option("cheaper-step", 0, R, "workers spawned at once when more are needed (default 1)", {},
                              true));
  host.add_option(make_option("cheaper-algo", 0, R,
                              "cheaper algorithm: spare (default), spare2, backlog, busyness or manual"));
  host.add_option(make_option("cheaper-overload", 0, R,
                              "spare: seconds all busy before spawning (and idle before stopping one); backlog: "
                              "queue length that spawns; busyness: its window in seconds (default 3)",
                              {}, true));
  host.add_option(make_option("cheaper-idle", 0, R,
                              "spare2: seconds with more than --cheaper idle workers before one is stopped "
                              "(default 10)",
                              {}, true));
  host.add_option(make_option("cheaper-rss-limit-soft", 0, R,
                              "cheaper spawns no worker while the workers' resident memory totals this many bytes",
                              {}, true));
  host.add_option(make_option("cheaper-rss-limit-hard", 0, R,
                              "cheaper stops a worker while the workers' resident memory totals this many bytes", {},
                              true));
  host.add_option(make_option("cheaper-busyness-min", 0, R,
                              "busyness: under this average busyness (%) a cycle counts as idle (default 25)", {},
                              true));
  host.add_option(make_option("cheaper-busyness-max", 0, R,
                              "busyness: over this average busyness (%) workers are spawned (default 50)", {}, true));
  host.add_option(make_option("cheaper-busyness-multiplier", 0, R,
                              "busyness: idle cycles in a row before a worker is stopped (default 10)", {}, true));
  host.add_option(make_option("cheaper-busyness-penalty", 0, R,
                              "busyness: added to the multiplier when a worker is needed again soon after one was "
                              "stopped (default 1)",
                              {}, true));
  host.add_option(make_option("cheaper-busyness-backlog-alert", 0, R,
                              "busyness: a listen queue longer than this spawns emergency workers (default 33)", {},
                              true));
  host.add_option(make_option("cheaper-busyness-backlog-step", 0, R,
                              "busyness: emergency workers spawned at once (default 1)", {}, true));
  host.add_option(make_option("cheaper-busyness-backlog-multiplier", 0, R,
                              "busyness: idle cycles before an emergency worker is stopped (default 3)", {}, true));
  host.add_option(make_option("cheaper-busyness-backlog-nonzero", 0, R,
                              "busyness: a listen queue not empty for this many seconds spawns an emergency worker "
                              "(default 60)",
                              {}, true));
  host.add_option(make_option("cheaper-busyness-verbose", 0, N, "busyness: log each cycle's busyness"));
  host.add_option(make_option("cheaper-algos-list", 0, N, "print the cheaper algorithms and exit",
                              {"cheaper-algo-list", "cheaper-list"}));
}

bool print_cheaper_algos_if_asked(const Config& cfg) {
  if (!cfg.get_bool("cheaper-algos-list")) return false;
  printf("*** cheaper algorithms ***\n");
  for (auto& n : cheaper_algo_names()) printf("%s\n", n.c_str());
  printf("--- end of cheaper algorithms list ---\n");
  return true;
}

namespace {

const long long kDay = 86400;

// One place reads the options, so the check and the master see the same values.
bool read_params(const Config& cfg, int processes, CheaperParams* p, std::string* err) {
  long long v;
  if (!get_bounded(cfg, "cheaper", 0, 0, 4096, &v, err)) return false;
  p->min = (int)v;
  p->max = processes;
  if (p->min == 0) return true;
  if (p->min >= processes) {
    // uWSGI quietly lowers it to --processes - 1: a config that says otherwise is a mistake.
    *err = "--cheaper " + std::to_string(p->min) + " must be lower than --processes " + std::to_string(processes) +
           " (the most workers cheaper may run)";
    return false;
  }
  struct Field {
    const char* name;
    int* out;
    long long def, lo, hi;
  };
  const Field fields[] = {
      {"cheaper-initial", &p->initial, p->min, p->min, processes},
      {"cheaper-step", &p->step, 1, 1, processes},
      {"cheaper-overload", &p->overload, 3, 1, kDay},
      {"cheaper-idle", &p->idle, 10, 1, kDay},
      {"cheaper-busyness-min", &p->busy_min, 25, 0, 100},
      {"cheaper-busyness-max", &p->busy_max, 50, 0, 100},
      {"cheaper-busyness-multiplier", &p->multiplier, 10, 1, 1 << 20},
      {"cheaper-busyness-penalty", &p->penalty, 1, 0, 1 << 20},
      {"cheaper-busyness-backlog-alert", &p->backlog_alert, 33, 0, 1 << 30},
      {"cheaper-busyness-backlog-step", &p->backlog_step, 1, 1, processes},
      {"cheaper-busyness-backlog-multiplier", &p->backlog_multiplier, 3, 1, 1 << 20},
      {"cheaper-busyness-backlog-nonzero", &p->backlog_nonzero, 60, 1, kDay},
  };
  for (auto& f : fields) {
    if (!get_bounded(cfg, f.name, f.def, f.lo, f.hi, &v, err)) return false;
    *f.out = (int)v;
  }
  if (p->busy_min >= p->busy_max) {
    *err = "--cheaper-busyness-min " + std::to_string(p->busy_min) + " must be lower than --cheaper-busyness-max " +
           std::to_string(p->busy_max);
    return false;
  }
  p->verbose = cfg.get_bool("cheaper-busyness-verbose");
  return true;
}

bool read_rss_limits(const Config& cfg, uint64_t* soft, uint64_t* hard, std::string* err) {
  long long s, h;
  if (!get_bounded(cfg, "cheaper-rss-limit-soft", 0, 0, 1ll << 50, &s, err) ||
      !get_bounded(cfg, "cheaper-rss-limit-hard", 0, 0, 1ll << 50, &h, err))
    return false;
  if (s && h && h <= s) {
    *err = "--cheaper-rss-limit-hard " + std::to_string(h) + " must be higher than --cheaper-rss-limit-soft " +
           std::to_string(s);
    return false;
  }
  *soft = (uint64_t)s;
  *hard = (uint64_t)h;
  return true;
}

std::string algo_of(const Config& cfg) { return cfg.get("cheaper-algo", "spare"); }

}  // namespace

bool check_cheaper_options(const Config& cfg, int processes, std::string* err) {
  CheaperParams p;
  uint64_t soft, hard;
  if (!read_params(cfg, processes, &p, err) || !read_rss_limits(cfg, &soft, &hard, err)) return false;
  if (p.min == 0) return true;
  std::string algo = algo_of(cfg);
  if (!make_cheaper_algo(algo, p)) {
    std::string names;
    for (auto& n : cheaper_algo_names()) names += (names.empty() ? "" : ", ") + n;
    *err = "--cheaper-algo " + algo + ": unknown algorithm (known: " + names + ")";
    return false;
  }
  return true;
}

void Cheaper::configure(const Config& cfg, int processes, const std::vector<Listener>* listeners) {
  std::string err;
  if (!read_params(cfg, processes, &p_, &err) || !read_rss_limits(cfg, &rss_soft_, &rss_hard_, &err)) return;
  if (p_.min == 0) {
    for (auto& o : cfg.items())
      if (o.first.rfind("cheaper-", 0) == 0) {
        log_line("warning: --%s has no effect without --cheaper", o.first.c_str());
        break;
      }
    return;
  }
  algo_name_ = algo_of(cfg);
  algo_ = make_cheaper_algo(algo_name_, p_);
  if (!algo_) return;
  listeners_ = listeners;
  cheap_.assign(processes + 1, 0);
  shares_.assign(processes + 1, {0, 0, 0});
  for (int id = p_.initial + 1; id <= processes; id++) set_cheap(id, true);
  log_line("cheaper mode: %s algorithm, %d to %d workers, %d at start, step %d", algo_name_.c_str(), p_.min,
           p_.max, p_.initial, p_.step);
  if (algo_name_ == "busyness")
    log_line("[busyness] settings: min=%d%%, max=%d%%, overload=%d, multiplier=%d, respawn penalty=%d; backlog "
             "alert is set to %d request(s)",
             p_.busy_min, p_.busy_max, p_.overload, p_.multiplier, p_.penalty, p_.backlog_alert);
}

void Cheaper::set_cheap(int id, bool cheap) {
  cheap_[id] = cheap;
  if (scoreboard().ready()) scoreboard().worker(id).cheaped.store(cheap ? 1 : 0);
}

int Cheaper::kept() const {
  int n = 0;
  for (size_t id = 1; id < cheap_.size(); id++) n += !cheap_[id];
  return n;
}

// The last worker that serves, an idle one if any: it has nothing to finish.
int Cheaper::pick_victim(const std::function<WorkerLife(int)>& life) const {
  int busy_pick = 0;
  for (int id = p_.max; id >= 1; id--) {
    if (cheap_[id]) continue;
    WorkerLife l = life(id);
    if (l.pid <= 0 || l.leaving) continue;
    if (!scoreboard().worker(id).busy()) return id;
    if (!busy_pick) busy_pick = id;
  }
  return busy_pick;
}

uint64_t Cheaper::workers_rss(const std::function<WorkerLife(int)>& life) const {
  uint64_t total = 0;
  for (int id = 1; id <= p_.max; id++) {
    WorkerLife l = life(id);
    ProcessMemory m;
    if (l.pid > 0 && read_process_memory(l.pid, &m)) total += m.rss_bytes;
  }
  return total;
}

std::vector<int> Cheaper::tick(uint64_t now_ms, const std::function<WorkerLife(int)>& life) {
  std::vector<int> stop;
  if (!enabled()) return stop;
  Scoreboard& sb = scoreboard();
  double dt = last_sample_ms_ && now_ms > last_sample_ms_ ? (double)(now_ms - last_sample_ms_) : 0;
  last_sample_ms_ = now_ms;
  int cores = std::max(1, sb.cores());
  for (int id = 1; id <= p_.max; id++) {
    if (cheap_[id] || life(id).pid <= 0) continue;
    int busy = std::min(cores, (int)sb.worker(id).busy_cores.load());
    shares_[id].id = id;
    shares_[id].busy_ms += dt * busy / cores;
    shares_[id].alive_ms += dt;
  }
  if (now_ms < next_decision_ms_) return stop;
  next_decision_ms_ = now_ms + 1000;

  CheaperTick t;
  t.now_ms = now_ms;
  for (int id = 1; id <= p_.max; id++) {
    if (cheap_[id]) continue;
    t.running++;
    WorkerLife l = life(id);
    // A slot between two processes (respawning) will be idle: count it so, not as missing. A
    // worker with --threads is idle only when none of its threads runs a request (uWSGI's).
    if (l.pid <= 0 || !sb.worker(id).busy()) t.idle++;
    if (shares_[id].alive_ms > 0) t.shares.push_back(shares_[id]);
    shares_[id] = {id, 0, 0};
  }
  if (listeners_)
    for (auto& l : *listeners_) {
      long q, max;
      listen_queue(l, &q, &max);
      t.backlog += q;
    }
  CheaperDecision d = algo_->decide(t);
  for (auto& n : d.notes) log_line("%s", n.c_str());

  if (rss_soft_ || rss_hard_) {
    uint64_t rss = workers_rss(life);
    if (rss_hard_ && rss >= rss_hard_ && t.running > p_.min) {
      d.delta = -1;
      d.why = "the workers' rss " + std::to_string(rss >> 20) + " MB reached --cheaper-rss-limit-hard";
    } else if (rss_soft_ && rss >= rss_soft_ && d.delta > 0) {
      if (!soft_said_)
        log_line("cheaper: not spawning (%s): the workers' rss %llu MB reached --cheaper-rss-limit-soft",
                 d.why.c_str(), (unsigned long long)(rss >> 20));
      soft_said_ = true;
      d.delta = 0;
    } else if (rss_soft_ && rss < rss_soft_) {
      soft_said_ = false;
    }
  }
  if (d.delta > 0) {
    int n = std::min(d.delta, p_.max - t.running), started = 0;
    for (int id = 1; id <= p_.max && started < n; id++)
      if (cheap_[id]) {
        set_cheap(id, false);  // the master spawns it (once its last process, if draining, is gone)
        started++;
      }
    if (started)
      log_line("cheaper: spawning %d %sworker(s), %d running: %s", started, d.emergency ? "emergency " : "",
               t.running + started, d.why.c_str());
  } else if (d.delta < 0 && t.running > p_.min) {
    int id = pick_victim(life);
    if (id) {
      set_cheap(id, true);
      stop.push_back(id);
      log_line("cheaper: stopping worker %d (pid %d), %d left: %s", id, (int)life(id).pid, t.running - 1,
               d.why.c_str());
    }
  }
  return stop;
}

std::vector<int> Cheaper::adjust(int delta, const std::function<WorkerLife(int)>& life) {
  std::vector<int> stop;
  if (!enabled() || delta == 0) return stop;
  int running = kept();
  if (delta > 0) {
    int n = std::min(delta, p_.max - running), started = 0;
    for (int id = 1; id <= p_.max && started < n; id++)
      if (cheap_[id]) {
        set_cheap(id, false);
        started++;
      }
    if (started) log_line("cheaper: spawning %d worker(s) (master fifo), %d running", started, running + started);
    else log_line("cheaper: already at --processes %d workers: none added", p_.max);
    return stop;
  }
  int n = std::min(-delta, running - p_.min);
  for (int i = 0; i < n; i++) {
    int id = pick_victim(life);
    if (!id) break;
    set_cheap(id, true);
    stop.push_back(id);
    log_line("cheaper: stopping worker %d (pid %d) (master fifo), %d left", id, (int)life(id).pid, running - 1 - i);
  }
  if (stop.empty()) log_line("cheaper: already at --cheaper %d workers: none stopped", p_.min);
  return stop;
}

}  // namespace uwsgi
