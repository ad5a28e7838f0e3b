// A worker process: its listeners, its loop engine, its connections, its stop flag.
#pragma once

#include <uwsgi/plugin.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "net/connection.h"
#include "host.h"
#include "net/listener.h"
#include "process/recycle.h"

namespace uwsgi {

// Chosen in the master from the options, so a bad name stops start-up before any fork.
struct EngineChoice {
  std::string loop;     // "sync", "async" or a plugin's loop engine
  std::string suspend;  // for "async"
  std::string io;       // for "async"
  int cores = 1;        // requests at once per worker: --async N, or --threads N for "sync"
};
bool choose_engines(HostImpl& host, EngineChoice* out, std::string* err);

class WorkerImpl final : public Worker, private RequestObserver {
 public:
  WorkerImpl(HostImpl& host, int id, const std::vector<Listener>& listeners, const ServeSettings& s,
             const EngineChoice& engines);
  ~WorkerImpl() override;

  int id() const override { return id_; }
  const std::vector<int>& listen_fds() const override { return listen_fds_; }
  bool stopping() const override;
  int accept_one(int listen_fd) override;
  bool serve_connection(int fd, int listen_fd, int core_id) override;
  int signal_fd() const override;
  void handle_signal_fd() override;
  void tick() override;
  void close_idle(const std::vector<int>& fds) override;

  int run();  // the worker's whole life; returns its exit code
  WorkerCounters& counters() { return counters_; }

 private:
  // RequestObserver: publish request start/end in the scoreboard.
  void request_start(int core_id, std::string_view uri) override;
  void request_end(int core_id, uint64_t duration_us, bool exception) override;

  HostImpl& host_;
  int id_;
  const std::vector<Listener>& listeners_;
  std::vector<int> listen_fds_;
  std::map<int, const Listener*> by_fd_;
  ServeSettings settings_;
  EngineChoice engines_;
  WorkerCounters counters_;
  std::vector<std::unique_ptr<Connection>> conns_;  // one per core, reused
  // Asked after every request, so --max-requests and a stop also end a keep-alive connection.
  // Made once: a temporary would sit in serve_connection()'s frame under every running app.
  std::function<bool()> should_close_ = [this] {
    tick();
    return stopping();
  };
  long long max_requests_ = 0;
  bool reaper_ = false;  // --reaper: reap the app's exited children after each request
  RecycleSettings recycle_;
  uint64_t started_ms_ = 0;  // monotonic: --min-worker-lifetime holds recycling back until it is old enough
  bool young_said_ = false;  // that it is held back was logged
  std::atomic<bool> memory_check_due_{false};  // a request ended (any thread) since the last --reload-on-rss check
  int signal_ep_ = -1;  // epoll fd over the stop pipe and the master's signal channel
};

// Set by the worker's signal handlers; read by every loop engine through Worker::stopping().
void worker_install_signals();
// Without a master: a stop signal gives in-flight requests this many seconds, then the worker
// exits (logging which requests it abandons). Not called under a master, which enforces it.
void worker_set_own_mercy(int seconds);
// Without a master: files the worker removes if the mercy runs out and it exits at once
// (--vacuum's unix sockets and pidfile; main() removes them on the ordinary way out).
void worker_set_exit_unlinks(const std::vector<std::string>& paths);

}  // namespace uwsgi
