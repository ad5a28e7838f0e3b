#include "process/cheaper_algos.h"

#include <algorithm>

namespace uwsgi {

namespace {

std::string n_workers(int n) { return std::to_string(n) + " worker(s)"; }

// spare (the default): a tick with every worker busy counts as overloaded, one with two or more
// idle workers counts as idle (either resets the other). --cheaper-overload overloaded ticks in a
// row spawn --cheaper-step workers; as many idle ticks in a row stop one.
class Spare : public CheaperAlgo {
 public:
  explicit Spare(const CheaperParams& p) : p_(p) {}
  CheaperDecision decide(const CheaperTick& t) override {
    CheaperDecision d;
    if (t.idle == 0) {
      idle_ticks_ = 0;
      if (++busy_ticks_ >= p_.overload && t.running < p_.max) {
        busy_ticks_ = 0;
        d.delta = p_.step;
        d.why = "all " + n_workers(t.running) + " busy for " + std::to_string(p_.overload) + " s";
      }
    } else if (t.idle >= 2) {
      busy_ticks_ = 0;
      if (++idle_ticks_ >= p_.overload && t.running > p_.min) {
        idle_ticks_ = 0;
        d.delta = -1;
        d.why = std::to_string(t.idle) + " idle workers for " + std::to_string(p_.overload) + " s";
      }
    } else {
      busy_ticks_ = idle_ticks_ = 0;
    }
    return d;
  }

 private:
  CheaperParams p_;
  int busy_ticks_ = 0, idle_ticks_ = 0;
};

// spare2: keeps --cheaper workers idle. Fewer idle ones spawn the difference (at most
// --cheaper-step at once); more idle ones for --cheaper-idle ticks in a row stop one.
class Spare2 : public CheaperAlgo {
 public:
  explicit Spare2(const CheaperParams& p) : p_(p) {}
  CheaperDecision decide(const CheaperTick& t) override {
    CheaperDecision d;
    if (t.idle < p_.min) {
      idle_ticks_ = 0;
      if (t.running < p_.max) {
        d.delta = std::min(p_.min - t.idle, p_.step);
        d.why = "only " + std::to_string(t.idle) + " idle of " + n_workers(t.running) + ", keeping " +
                std::to_string(p_.min) + " idle";
      }
    } else if (t.idle > p_.min) {
      if (++idle_ticks_ >= p_.idle && t.running > p_.min) {
        idle_ticks_ = 0;
        d.delta = -1;
        d.why = std::to_string(t.idle) + " idle workers for " + std::to_string(p_.idle) + " s (--cheaper-idle)";
      }
    } else {
      idle_ticks_ = 0;
    }
    return d;
  }

 private:
  CheaperParams p_;
  int idle_ticks_ = 0;
};

// backlog: more than --cheaper-overload connections waiting in the listen queues spawn
// --cheaper-step workers. uWSGI then stops one worker a tick whenever the queue is shorter,
// which can stop a worker that just emptied the queue; here one goes a tick only once the queue
// is empty and a worker is idle.
class Backlog : public CheaperAlgo {
 public:
  explicit Backlog(const CheaperParams& p) : p_(p) {}
  CheaperDecision decide(const CheaperTick& t) override {
    CheaperDecision d;
    if (t.backlog > p_.overload && t.running < p_.max) {
      d.delta = p_.step;
      d.why = std::to_string(t.backlog) + " connection(s) waiting in the listen queue (over " +
              std::to_string(p_.overload) + ")";
    } else if (t.backlog == 0 && t.idle > 0 && t.running > p_.min) {
      d.delta = -1;
      d.why = "the listen queue is empty and " + std::to_string(t.idle) + " worker(s) idle";
    }
    return d;
  }

 private:
  CheaperParams p_;
};

// busyness: every --cheaper-overload seconds, the workers' average share of time spent in
// requests. Over --cheaper-busyness-max: spawn --cheaper-step workers. Under -min: an idle cycle;
// --cheaper-busyness-multiplier idle cycles stop one worker (cycles between min and max take one
// back; three of them in a row start the count again). A spawn soon after a stop (within the
// idle wait) raises the multiplier by --cheaper-busyness-penalty, so the count does not flap.
// Each tick, the listen queue may spawn emergency workers: longer than -backlog-alert, or not
// empty for -backlog-nonzero seconds; while they run, -backlog-multiplier cycles stop one.
class Busyness : public CheaperAlgo {
 public:
  explicit Busyness(const CheaperParams& p) : p_(p), multiplier_(p.multiplier) {}

  CheaperDecision decide(const CheaperTick& t) override {
    CheaperDecision d;
    if (!started_) {
      started_ = true;
      window_start_ms_ = t.now_ms;
    }
    for (auto& s : t.shares) {
      auto& acc = window_[s.id];
      acc.first += s.busy_ms;
      acc.second += s.alive_ms;
    }
    if (emergency(t, &d)) return d;
    if (t.now_ms - window_start_ms_ < (uint64_t)p_.overload * 1000) return d;
    window_start_ms_ = t.now_ms;
    double busy = 0, alive = 0;
    for (auto& [id, acc] : window_) {
      busy += acc.first;
      alive += acc.second;
      if (p_.verbose && acc.second > 0)
        d.notes.push_back("[busyness] worker nr " + std::to_string(id) + " " + std::to_string(p_.overload) +
                          "s average busyness is at " + std::to_string(pct(acc.first, acc.second)) + "%");
    }
    window_.clear();
    int avg = pct(busy, alive);
    std::string at = std::to_string(p_.overload) + "s average busyness is at " + std::to_string(avg) + "%";
    if (p_.verbose)
      d.notes.push_back("[busyness] " + std::to_string(p_.overload) + "s average busyness of " +
                        n_workers(t.running) + " is at " + std::to_string(avg) + "%");
    if (avg > p_.busy_max) {
      idle_cycles_ = nonidle_in_row_ = 0;
      if (t.running >= p_.max) return d;
      if (cheaped_once_ && t.now_ms - last_cheap_ms_ < wait_ms()) {
        multiplier_ += p_.penalty;
        d.notes.push_back("[busyness] worker(s) respawned too fast, increasing cheaper multiplier to " +
                          std::to_string(multiplier_) + " (+" + std::to_string(p_.penalty) + ")");
      }
      d.delta = p_.step;
      d.why = at + " (over " + std::to_string(p_.busy_max) + "%)";
    } else if (avg < p_.busy_min) {
      nonidle_in_row_ = 0;
      if (t.running <= p_.min) {
        idle_cycles_ = 0;
        return d;
      }
      int needed = emergency_ > 0 ? p_.backlog_multiplier : multiplier_;
      if (++idle_cycles_ >= needed) {
        idle_cycles_ = 0;
        last_cheap_ms_ = t.now_ms;
        cheaped_once_ = true;
        if (emergency_ > 0) emergency_--;
        d.delta = -1;
        d.why = at + ", cheap one of " + std::to_string(t.running) + " running workers";
      } else if (p_.verbose) {
        d.notes.push_back("[busyness] need to wait " + std::to_string((needed - idle_cycles_) * p_.overload) +
                          " more second(s) to cheap worker");
      }
    } else if (idle_cycles_ > 0) {
      if (++nonidle_in_row_ >= 3) {
        idle_cycles_ = nonidle_in_row_ = 0;
        if (p_.verbose) d.notes.push_back("[busyness] " + at + ", 3 non-idle cycles in a row: idle count reset");
      } else {
        idle_cycles_--;
        if (p_.verbose)
          d.notes.push_back("[busyness] " + at + ", " + std::to_string(nonidle_in_row_) +
                            " non-idle cycle(s), adjusting cheaper timer");
      }
    }
    return d;
  }

 private:
  static int pct(double part, double whole) { return whole > 0 ? (int)(part * 100 / whole + 0.5) : 0; }
  uint64_t wait_ms() const { return (uint64_t)multiplier_ * p_.overload * 1000; }

  bool emergency(const CheaperTick& t, CheaperDecision* d) {
    if (t.backlog <= 0) {
      nonzero_ = false;
      return false;
    }
    if (!nonzero_) {
      nonzero_ = true;
      nonzero_since_ms_ = t.now_ms;
    }
    if (t.running >= p_.max) return false;
    if (t.backlog > p_.backlog_alert) {
      d->why = "listen queue " + std::to_string(t.backlog) + " over --cheaper-busyness-backlog-alert " +
               std::to_string(p_.backlog_alert);
    } else if (t.now_ms - nonzero_since_ms_ >= (uint64_t)p_.backlog_nonzero * 1000) {
      d->why = "listen queue not empty for " + std::to_string(p_.backlog_nonzero) + " s";
      nonzero_since_ms_ = t.now_ms;
    } else {
      return false;
    }
    d->delta = p_.backlog_step;
    d->emergency = true;
    emergency_ += p_.backlog_step;
    idle_cycles_ = 0;
    return true;
  }

  CheaperParams p_;
  int multiplier_;
  bool started_ = false;
  uint64_t window_start_ms_ = 0;
  std::map<int, std::pair<double, double>> window_;  // worker id -> (busy ms, alive ms)
  int idle_cycles_ = 0, nonidle_in_row_ = 0;
  bool cheaped_once_ = false;
  uint64_t last_cheap_ms_ = 0;
  int emergency_ = 0;  // emergency workers not yet stopped again
  bool nonzero_ = false;  // the listen queue was not empty at the last tick, since nonzero_since_ms_
  uint64_t nonzero_since_ms_ = 0;
};

// manual: never changes the count by itself (uWSGI's master FIFO '+' and '-' do).
class Manual : public CheaperAlgo {
 public:
  CheaperDecision decide(const CheaperTick&) override { return {}; }
};

}  // namespace

const std::vector<std::string>& cheaper_algo_names() {
  static const std::vector<std::string> names = {"spare", "spare2", "backlog", "busyness", "manual"};
  return names;
}

std::unique_ptr<CheaperAlgo> make_cheaper_algo(const std::string& name, const CheaperParams& p) {
  if (name == "spare") return std::make_unique<Spare>(p);
  if (name == "spare2") return std::make_unique<Spare2>(p);
  if (name == "backlog") return std::make_unique<Backlog>(p);
  if (name == "busyness") return std::make_unique<Busyness>(p);
  if (name == "manual") return std::make_unique<Manual>();
  return nullptr;
}

}  // namespace uwsgi
