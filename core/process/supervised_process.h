// One idea for every process the master runs and watches (workers, HTTP routers, mules,
// spooler processes, attached daemons): how it is forked (fork_supervised: signals reset, log and
// name set up), what it runs, and how it is respawned when it dies: at once after a normal life,
// after a growing back-off when it keeps dying young (Backoff), never in a tight fork loop.
// Each subsystem keeps its own table of these (its ids, its options); the master only reaps
// and asks them to spawn what is due.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>

namespace uwsgi {

// How a process that dies young is respawned.
struct RespawnPolicy {
  uint64_t young_ms = 1000;        // a death after less than this counts as "young"
  uint64_t first_delay_ms = 1000;  // the back-off after the first young death in a row
  uint64_t max_delay_ms = 30000;   // it doubles per young death in a row, up to this
};

// The respawn back-off: 0 after a normal life; first, 2 x first, 4 x first ... (at most max)
// while the process keeps dying young.
class Backoff {
 public:
  explicit Backoff(RespawnPolicy p = {}) : p_(p) {}
  void set_policy(RespawnPolicy p) { p_ = p; }
  const RespawnPolicy& policy() const { return p_; }
  // The process died after lived_ms; counts: false when its end was asked for (recycled,
  // harakiri, stopped), which is no crash loop. Returns the delay before the respawn.
  uint64_t on_exit(uint64_t lived_ms, bool counts = true);
  int young_in_a_row() const { return streak_; }
  void reset() { streak_ = 0; }

 private:
  RespawnPolicy p_;
  int streak_ = 0;
};

enum class ProcessKind { kWorker, kRouter, kMule, kSpooler, kDaemon, kVassal };
// "worker", "router", "mule", "spooler", "daemon", "vassal" (an Emperor's instance)
const char* process_kind_name(ProcessKind k);

// What a reload does to it.
enum class OnReload {
  kStop,    // stopped with stop_signal, started again by the new master image (mules, spoolers)
  kKeep,    // keeps running across the re-exec and is adopted (HTTP routers, smart daemons)
  kSignal,  // gets reload_signal and keeps running (daemons with reloadsignal=)
};

// How the child is set up by fork_supervised().
struct ChildSetup {
  std::string title;        // its process name with --auto-procname ("uWSGI mule 1"); empty: none
  int pdeath_signal = 0;    // sent to it when the master dies (0: it may outlive the master)
  bool new_session = false;  // setsid(): its own process group (daemons: a stop reaches its children)
  bool log_to_master = true;  // with --log-master its lines go through the master
  bool ignore_sigpipe = true;  // false for a process that execs (an ignored SIGPIPE is inherited)
  bool unblock_signals = true;  // false: it unblocks them itself once its handlers are in place
  std::function<void()> prepare;  // in the child, dispositions reset, before signals are unblocked
  // A process that runs app code (worker, mule, spooler, router): with --master-as-root it drops
  // to --uid/--gid here, after prepare (drop_privileges_in_child).
  bool runs_app_code = false;
};

// Forks a child of the master. Every signal is blocked around fork() so no master handler runs in
// the child; there every disposition goes back to its default (SIGPIPE ignored unless told not), the master's own
// fds (add_master_only_fd) are closed, the process name is set and the mask emptied. Returns the
// child's pid in the master (-1, errno set, when fork fails) and 0 in the child.
pid_t fork_supervised(const ChildSetup& c);
// A fd only the master uses (its wake-up pipe): closed in every child fork_supervised makes.
void add_master_only_fd(int fd);

// One supervised process slot: what it is, how it starts and what the master knows of it.
struct SupervisedProcess {
  std::string name;  // for logs: "mule 1", "HTTP router 2"
  ProcessKind kind = ProcessKind::kWorker;
  int id = 0;        // its number within its kind (1-based)
  std::function<int()> start;  // runs in the child; its return is the exit status
  ChildSetup setup;
  Backoff backoff;
  int stop_signal = SIGTERM;
  OnReload reload = OnReload::kStop;
  int reload_signal = 0;

  pid_t pid = 0;              // 0: not running
  uint64_t started_ms = 0;    // monotonic, of the running (or last) process
  uint64_t last_spawn = 0;    // unix time, as uWSGI's last_spawn
  uint64_t respawns = 0;      // spawns after the first, as uWSGI's respawn_count
  uint64_t respawn_at_ms = 0;  // monotonic: not respawned before this
  bool spawned_once = false;

  // Forks and runs start() in the child (which then exits with its status). False when fork
  // failed: retried after a second.
  bool spawn(uint64_t now_ms);
  // The master reaped it: schedules the respawn after the back-off. Returns the delay.
  uint64_t exited(uint64_t now_ms, bool counts = true);
  bool due(uint64_t now_ms) const { return pid == 0 && now_ms >= respawn_at_ms; }
  // pid > 0: kill(pid, sig); false when nothing was running.
  bool signal(int sig) const;
};

// One supervised process as --stats shows it.
struct SupervisedStat {
  std::string kind, name;
  int id = 0;
  int pid = 0;
  uint64_t respawn_count = 0;
  uint64_t last_spawn = 0;
};
SupervisedStat supervised_stat(const SupervisedProcess& p);

}  // namespace uwsgi
