// --stats ADDR: the master serves one JSON document per connection (the layout uwsgitop reads),
// built from the scoreboard. --stats-http adds an HTTP response head.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "net/listener.h"
#include "process/supervised_process.h"

namespace uwsgi {

// One attached daemon (process/daemons.h), as --stats shows it.
struct DaemonStat {
  std::string cmd;
  int pid = 0;
  uint64_t respawns = 0;
  std::string kind;  // "classic" or "smart" (a pidfile)
  bool control = false;
  int throttle = 0;  // seconds its throttled respawn waits, while it waits
  uint64_t last_spawn = 0;  // unix time
};

// One mule (process/mules.h): uWSGI 2.0 shows none; these keys follow its workers'.
struct MuleStat {
  int id = 0;
  int pid = 0;
  uint64_t signals = 0;
  uint64_t respawns = 0;
  uint64_t last_spawn = 0;  // unix time
  std::vector<std::string> farms;
};

// One --spooler dir (process/spooler.h): uWSGI's keys (dir, pid, tasks, respawns, running) plus
// the pids of every process of the dir and the tasks waiting in it.
struct SpoolerStat {
  std::string dir;
  std::vector<int> pids;
  uint64_t tasks = 0;  // done (SPOOL_OK) by this dir's processes
  uint64_t respawns = 0;
  int running = 0;     // processes inside a task now
  uint64_t queued = 0;  // spool files waiting (priority subdirs included)
};

// One --cache2 (shared/shared_cache.h), uWSGI's keys.
struct CacheStat {
  std::string name;
  uint64_t hashsize = 0, keysize = 0, max_items = 0, blocksize = 0, items = 0;
  uint64_t hits = 0, miss = 0, full = 0, last_modified_at = 0;
};

struct StatsFacts {
  const std::vector<Listener>* listeners = nullptr;
  int nworkers = 0;
  int ncores = 1;
  bool running = true;  // false while reloading / shutting down (workers not accepting)
  std::vector<DaemonStat> daemons;
  std::vector<SupervisedStat> supervised;  // HTTP routers, mules, spooler processes
};

// --stats-minified (--stats-min): one line, as we always wrote it; otherwise tab-indented as
// uWSGI writes it. --stats-no-cores: no "cores" list per worker.
struct StatsFormat {
  bool minified = false;
  bool cores = true;
};

std::string stats_json(const StatsFacts& f, const StatsFormat& fmt = {});

// Connections waiting in a listening TCP socket's accept queue (Linux reports it in tcpi_unacked
// for LISTEN sockets) and the queue's size (tcpi_sacked); 0 for unix sockets.
void listen_queue(const Listener& l, long* queue, long* max);

class StatsServer {
 public:
  ~StatsServer();
  // spec: "host:port", ":port" or a unix path.
  bool open(const std::string& spec, bool http, std::string* err);
  void set_format(const StatsFormat& fmt) { fmt_ = fmt; }
  int fd() const { return fd_; }
  // Accept pending clients and answer each (bounded by short timeouts: never stalls the master).
  void serve(const StatsFacts& f);
  // The same for any JSON document (the Emperor's): make_body runs once per client.
  void serve(const std::function<std::string()>& make_body);

 private:
  int fd_ = -1;
  bool http_ = false;
  StatsFormat fmt_;
  std::string unix_path_;
};

}  // namespace uwsgi
