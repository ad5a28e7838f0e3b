// uWSGI's signal framework: the per-process handler table, the master's timers and file monitors,
// and the channels (one SOCK_SEQPACKET socketpair per worker) the master routes signals over.
//
// Wire format (one datagram each): worker -> master "S num" (raise), "T num ms iterations"
// (timer), "F num path" (file monitor), "C num min hour day month weekday" (cron); master -> worker "S num" (deliver).
#pragma once

#include <uwsgi/plugin.h>

#include <functional>
#include <string>
#include <vector>

namespace uwsgi {

class SignalFramework final : public Signals {
 public:
  static SignalFramework& get();

  // uwsgi::Signals
  bool register_signal(int num, std::string_view target, SignalHandler* h, void* handler,
                       std::string* err) override;
  bool registered(int num) const override;
  bool raise(int num, std::string* err) override;
  bool add_timer(int num, double seconds, int iterations, std::string* err) override;
  bool add_file_monitor(int num, const std::string& path, std::string* err) override;
  int wait(int num, std::string* err) override;
  int received() const override { return last_received_; }
  bool add_cron(int num, int minute, int hour, int day, int month, int weekday, std::string* err) override;

  // ---- master side ----
  void set_has_master(bool m) { has_master_ = m; }
  // Before forking worker id: a fresh channel; returns false on failure.
  bool open_channel(int id);
  // In the child after fork: keep only this worker's end.
  void child_after_fork(int id);
  // In the master after fork / after a worker died.
  void parent_after_fork(int id);
  void close_channel(int id);
  int master_fd(int id) const { return id < (int)chans_.size() ? chans_[id].master : -1; }
  // Read the requests a worker sent on its channel.
  void read_worker_messages(int id);
  // The same for another process's channel (a mule's, a spooler's); who names it in the log.
  void read_messages(int fd, const std::string& who);
  // In a mule or a spooler process: raise(), timers, crons and monitors go to the master over
  // fd (the same requests a worker sends on its channel).
  void set_upstream(int fd) { worker_chan_ = fd; }
  // Deliver num to the worker(s) its target names; alive(id) tells whether worker id runs and
  // idle(id) whether it is not serving a request (to pick "a worker").
  void route(int num);
  void set_worker_view(int nworkers, std::function<bool(int)> alive, std::function<bool(int)> idle) {
    nworkers_ = nworkers;
    alive_ = std::move(alive);
    idle_ = std::move(idle);
  }
  // Fire due timers; returns the ms until the next one (or max_ms).
  int run_timers(int max_ms);
  int inotify_fd() const { return inotify_fd_; }
  bool has_timers_or_monitors() const { return !timers_.empty() || !monitors_.empty(); }
  void read_inotify();

  // ---- worker side ----
  // In the worker (after fork, or the single process): who we are and how to tell a stop.
  void set_worker(Host* host, int id, std::function<bool()> stopping) {
    host_ = host;
    my_id_ = id;
    stopping_ = std::move(stopping);
  }
  int channel_fd() const { return worker_chan_; }
  // Set by the worker: reads its signal fd and dispatches (used while wait() blocks).
  void set_worker_pump(std::function<void()> pump, int signal_fd) {
    pump_ = std::move(pump);
    signal_fd_ = signal_fd;
  }
  // Read and dispatch (or, with discard, drop) what the master sent (non-blocking).
  void worker_read_channel(bool discard = false);
  void deliver_locally(int num);

 private:
  struct Channel {
    int master = -1, worker = -1;
  };
  struct Handler {
    SignalHandler* h = nullptr;
    void* data = nullptr;
  };
  struct Timer {
    int num;
    uint64_t interval_ms, next_ms;
    int left;  // iterations left, 0 = forever
  };
  struct Monitor {
    int wd, num;
    std::string path;
  };

  bool send_to_master(const std::string& msg, std::string* err);
  void master_add_timer(int num, uint64_t ms, int iterations);
  bool master_add_monitor(int num, const std::string& path, std::string* err);
  void send_to_worker(int id, int num);

  int host_worker_id_() const { return my_id_; }

  Handler handlers_[256];
  Host* host_ = nullptr;
  int my_id_ = 0;
  std::function<bool()> stopping_ = [] { return false; };
  std::vector<Channel> chans_;
  int worker_chan_ = -1;
  bool has_master_ = false;
  int nworkers_ = 0;
  std::function<bool(int)> alive_, idle_;
  int rr_ = 0;
  std::vector<Timer> timers_;
  std::vector<Monitor> monitors_;
  int inotify_fd_ = -1;
  int last_received_ = -1;
  // wait(): an active waiter and what it got.
  bool waiting_ = false;
  int wait_num_ = -1, wait_got_ = -1;
  std::function<void()> pump_;
  int signal_fd_ = -1;
};

}  // namespace uwsgi
