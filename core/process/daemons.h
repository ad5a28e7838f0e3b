// External daemons the master starts and supervises (uWSGI's --attach-daemon family):
//   --attach-daemon CMD, --attach-control-daemon CMD, --smart-attach-daemon PIDFILE CMD,
//   --smart-attach-daemon2 PIDFILE CMD, --attach-daemon2 key=value,...
// Each runs as /bin/sh -c CMD in its own session. A daemon that dies is respawned; one that dies
// younger than `freq` seconds is throttled (1, 2, 4 ... up to max_throttle seconds, logged), never
// respawned in a tight loop. Plain daemons are stopped (stopsignal, SIGKILL after the
// --reload-mercy bound) on reload and shutdown and get stopsignal if the master dies; smart ones
// (a pidfile) keep running across reloads and are found again through their pidfile.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "host.h"
#include "process/stats.h"
#include "process/supervised_process.h"

namespace uwsgi {

struct DaemonSpec {
  std::string cmd;
  std::string pidfile;          // smart: liveness is the pid in this file
  bool daemonize = false;       // smart-attach-daemon2: the master writes the pidfile itself
  bool control = false;         // its death stops the whole instance
  std::vector<std::string> touch;  // restart it when one of these files' mtime changes
  int stop_signal = SIGTERM;
  int reload_signal = 0;        // sent on reload instead of a stop (plain daemons)
  bool honour_stdin = false;
  int freq_s = 10;              // a death younger than this is throttled
  int max_throttle_s = 60;
  std::string chdir;
  bool has_uid = false, has_gid = false;
  unsigned uid = 0, gid = 0;
  std::string option;           // the option it came from, for messages
};

void register_daemon_options(HostImpl& host);
// Every daemon option, parsed; false with *err naming the option and the fault.
bool read_daemon_specs(const Config& cfg, std::vector<DaemonSpec>* out, std::string* err);

class Daemons {
 public:
  void configure(std::vector<DaemonSpec> specs, int stop_mercy_s);
  bool empty() const { return d_.empty(); }
  // Start every daemon (a smart one whose pidfile names a live process is adopted instead).
  void start_all(uint64_t now_ms);
  // A child the master reaped: true when it was a daemon's (then handled).
  bool reaped(pid_t pid, int status, uint64_t now_ms);
  // Respawns due, smart pidfile checks, touch files, stop bounds (about once a second).
  void tick(uint64_t now_ms, bool running);
  // The master reloads: plain daemons get reload_signal when set, else stop (and start again
  // after the re-exec); smart ones keep running.
  void begin_reload(uint64_t now_ms);
  // The master stops: every daemon gets its stop signal (smart ones too, found by pidfile).
  void begin_shutdown(uint64_t now_ms);
  // Nothing the master waits for before re-exec / exit is still running.
  bool stopped() const;
  // A control daemon died: the instance must stop.
  bool control_died() const { return control_died_; }
  std::vector<DaemonStat> stats() const;
  // Before a reload's re-exec: daemons left running are written to the environment so the new
  // master image adopts them (their pids, keyed by command).
  void export_kept();

 private:
  struct Daemon {
    DaemonSpec spec;
    pid_t pid = 0;              // our child (the shell or the daemonizing command)
    pid_t smart_pid = 0;        // the pid its pidfile names (smart ones)
    uint64_t started_ms = 0;
    bool pending = false;        // waiting to be respawned (at respawn_at_ms)
    uint64_t respawn_at_ms = 0;
    bool down = false;           // stopped for good (shutdown, or a control daemon that died)
    uint64_t check_after_ms = 0;  // smart: no pidfile check before this
    int throttle_s = 0;
    Backoff backoff;            // the throttle: grows while it dies younger than freq
    uint64_t respawns = 0;
    uint64_t last_spawn = 0;    // unix time
    bool stopping = false;      // asked to stop: not respawned
    bool restart_after_stop = false;  // touch: start again once it is gone
    uint64_t stop_deadline_ms = 0;
    bool killed = false;
    std::vector<int64_t> touch_mtimes;
  };
  void spawn(Daemon& d, uint64_t now_ms);
  void stop(Daemon& d, uint64_t now_ms);
  void died(Daemon& d, const char* how, uint64_t now_ms);
  bool smart_alive(Daemon& d);
  std::vector<Daemon> d_;
  int mercy_s_ = 60;
  uint64_t next_tick_ms_ = 0;
  bool control_died_ = false;
  bool shutting_down_ = false;
};

}  // namespace uwsgi
