#include "process/signal_framework.h"

#include <poll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "host.h"
#include "log/log.h"
#include "process/cron.h"
#include "process/mules.h"
#include "process/scoreboard.h"
#include "process/spooler.h"

namespace uwsgi {

Signals& HostImpl::signals() { return SignalFramework::get(); }

SignalFramework& SignalFramework::get() {
  static SignalFramework sf;
  return sf;
}

static bool valid_target(std::string_view t) {
  if (t.empty() || t == "worker" || t == "workers" || t == "active-workers") return true;
  if (t == "spooler" || t == "spoolers" || mule_signal_target(t)) return true;
  if (t.size() > 6 && t.substr(0, 6) == "worker") {
    for (char c : t.substr(6))
      if (c < '0' || c > '9') return false;
    return true;
  }
  return false;
}

bool SignalFramework::register_signal(int num, std::string_view target, SignalHandler* h, void* handler,
                                      std::string* err) {
  if (num < 0 || num > 255) {
    *err = "signal numbers go from 0 to 255";
    return false;
  }
  if (!valid_target(target)) {
    *err = "unsupported signal target \"" + std::string(target) +
           "\" (use worker, workers, active-workers, workerN, mule, mules, muleN or spooler; signals are not "
           "routed to clusters here)";
    return false;
  }
  SignalSlot* slot = scoreboard().signal(num);
  if (!slot) {
    *err = "cannot map the shared signal table";
    return false;
  }
  handlers_[num] = {h, handler};
  size_t n = target.size() < kTargetMax - 1 ? target.size() : kTargetMax - 1;
  memcpy(slot->target, target.data(), n);
  slot->target[n] = 0;
  slot->registered.store(1);
  return true;
}

bool SignalFramework::registered(int num) const {
  if (num < 0 || num > 255) return false;
  if (handlers_[num].h) return true;
  SignalSlot* slot = scoreboard().signal(num);
  return slot && slot->registered.load();
}

bool SignalFramework::send_to_master(const std::string& msg, std::string* err) {
  if (::send(worker_chan_, msg.data(), msg.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
    *err = std::string("cannot reach the master: ") + strerror(errno);
    return false;
  }
  return true;
}

bool SignalFramework::raise(int num, std::string* err) {
  if (num < 0 || num > 255) {
    *err = "signal numbers go from 0 to 255";
    return false;
  }
  if (worker_chan_ >= 0) return send_to_master("S " + std::to_string(num), err);
  if (nworkers_ > 0) {  // in the master
    route(num);
    return true;
  }
  deliver_locally(num);  // a single process without a master is its own only worker
  return true;
}

bool SignalFramework::add_timer(int num, double seconds, int iterations, std::string* err) {
  if (num < 0 || num > 255 || seconds <= 0) {
    *err = "add_timer wants a signal number (0-255) and a positive number of seconds";
    return false;
  }
  uint64_t ms = (uint64_t)(seconds * 1000 + 0.5);
  if (ms == 0) ms = 1;
  if (iterations < 0) iterations = 0;
  if (worker_chan_ >= 0)
    return send_to_master("T " + std::to_string(num) + " " + std::to_string(ms) + " " + std::to_string(iterations),
                          err);
  if (host_worker_id_() > 0) {
    *err = "timers need a master process (--master)";
    return false;
  }
  master_add_timer(num, ms, iterations);
  return true;
}

bool SignalFramework::add_cron(int num, int minute, int hour, int day, int month, int weekday, std::string* err) {
  if (num < 0 || num > 255) {
    *err = "add_cron wants a signal number (0-255)";
    return false;
  }
  CronFields f{minute, hour, day, month, weekday};
  char line[96];
  snprintf(line, sizeof line, "C %d %d %d %d %d %d", num, minute, hour, day, month, weekday);
  if (worker_chan_ >= 0) return send_to_master(line, err);
  if (host_worker_id_() > 0) {
    *err = "cron needs a master process (--master)";
    return false;
  }
  cron_add_signal(num, f);
  return true;
}

bool SignalFramework::add_file_monitor(int num, const std::string& path, std::string* err) {
  if (num < 0 || num > 255 || path.empty()) {
    *err = "add_file_monitor wants a signal number (0-255) and a path";
    return false;
  }
  if (worker_chan_ >= 0) return send_to_master("F " + std::to_string(num) + " " + path, err);
  if (host_worker_id_() > 0) {
    *err = "file monitors need a master process (--master)";
    return false;
  }
  return master_add_monitor(num, path, err);
}

int SignalFramework::wait(int num, std::string* err) {
  if (waiting_) {
    *err = "another signal_wait() is already pending in this worker";
    return -1;
  }
  if (!host_) {
    *err = "signal_wait() works only in a worker";
    return -1;
  }
  waiting_ = true;
  wait_num_ = num;
  wait_got_ = -1;
  while (wait_got_ < 0 && !stopping_()) {
    LoopEngine* le = host_->loop_engine();
    CoreContext* c = le ? le->current_core() : nullptr;
    std::string e;
    if (c) {
      // Under async cores the scheduler's main context reads the channel; this core polls for
      // what it delivered (the channel fd is already in the I/O engine under another tag).
      if (!c->register_timer(0.05, &e) || !c->suspend(&e)) break;
    } else if (le && signal_fd_ >= 0) {
      le->wait_fd(signal_fd_, kIoRead, 500);
      if (pump_) pump_();
    } else {
      pollfd p{signal_fd_, POLLIN, 0};
      poll(&p, signal_fd_ >= 0 ? 1 : 0, 500);
      if (pump_) pump_();
    }
  }
  waiting_ = false;
  if (wait_got_ < 0) *err = "signal_wait() interrupted: the worker is stopping";
  return wait_got_;
}

// ---- master side ---------------------------------------------------------------------------

bool SignalFramework::open_channel(int id) {
  if ((int)chans_.size() <= id) chans_.resize(id + 1);
  close_channel(id);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    log_line("master: socketpair for worker %d: %s", id, strerror(errno));
    return false;
  }
  chans_[id] = {sv[0], sv[1]};
  return true;
}

void SignalFramework::child_after_fork(int id) {
  for (size_t i = 0; i < chans_.size(); i++) {
    if (chans_[i].master >= 0) ::close(chans_[i].master);
    if ((int)i != id && chans_[i].worker >= 0) ::close(chans_[i].worker);
  }
  worker_chan_ = id < (int)chans_.size() ? chans_[id].worker : -1;
  chans_.clear();
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
  inotify_fd_ = -1;
  timers_.clear();
  monitors_.clear();
  nworkers_ = 0;
  my_id_ = id;
}

void SignalFramework::parent_after_fork(int id) {
  if (id < (int)chans_.size() && chans_[id].worker >= 0) {
    ::close(chans_[id].worker);
    chans_[id].worker = -1;
  }
}

void SignalFramework::close_channel(int id) {
  if (id >= (int)chans_.size()) return;
  for (int* fd : {&chans_[id].master, &chans_[id].worker})
    if (*fd >= 0) {
      ::close(*fd);
      *fd = -1;
    }
}

void SignalFramework::read_worker_messages(int id) {
  int fd = master_fd(id);
  if (fd < 0) return;
  read_messages(fd, "worker " + std::to_string(id));
}

void SignalFramework::read_messages(int fd, const std::string& who) {
  char buf[4200];
  for (int i = 0; i < 64; i++) {
    ssize_t n = ::recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
    if (n <= 0) return;
    buf[n] = 0;
    std::string err;
    if (buf[0] == 'S') {
      route(atoi(buf + 2));
    } else if (buf[0] == 'T') {
      int num = 0, iters = 0;
      unsigned long long ms = 0;
      if (sscanf(buf + 2, "%d %llu %d", &num, &ms, &iters) == 3) master_add_timer(num, ms, iters);
    } else if (buf[0] == 'C') {
      int num;
      CronFields f;
      if (sscanf(buf + 2, "%d %d %d %d %d %d", &num, &f.minute, &f.hour, &f.day, &f.month, &f.weekday) == 6)
        cron_add_signal(num, f);
    } else if (buf[0] == 'F') {
      char* sp = strchr(buf + 2, ' ');
      if (sp && !master_add_monitor(atoi(buf + 2), sp + 1, &err))
        log_line("%s: file monitor on %s: %s", who.c_str(), sp + 1, err.c_str());
    }
  }
}

void SignalFramework::send_to_worker(int id, int num) {
  int fd = master_fd(id);
  if (fd < 0) return;
  std::string m = "S " + std::to_string(num);
  if (::send(fd, m.data(), m.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
    log_line("signal %d for worker %d dropped: %s", num, id, strerror(errno));
}

void SignalFramework::route(int num) {
  SignalSlot* slot = scoreboard().signal(num);
  if (!slot || !slot->registered.load()) {
    log_line("uwsgi signal %d is not registered: dropped", num);
    return;
  }
  char target[kTargetMax];
  memcpy(target, slot->target, kTargetMax);
  target[kTargetMax - 1] = 0;
  std::string t = target;
  std::string err;
  if (mule_signal_target(t)) {
    if (!mules_route_signal(t, num, &err)) log_line("uwsgi signal %d for %s dropped: %s", num, t.c_str(), err.c_str());
    return;
  }
  if (t == "spooler" || t == "spoolers") {
    if (!spoolers_route_signal(num, &err)) log_line("uwsgi signal %d for the spooler dropped: %s", num, err.c_str());
    return;
  }
  auto alive = [&](int id) { return alive_ && alive_(id) && master_fd(id) >= 0; };
  if (t == "workers" || t == "active-workers") {
    for (int i = 1; i <= nworkers_; i++)
      if (alive(i)) send_to_worker(i, num);
    return;
  }
  if (t.size() > 6 && t.compare(0, 6, "worker") == 0) {
    int id = atoi(t.c_str() + 6);
    if (alive(id)) send_to_worker(id, num);
    else log_line("uwsgi signal %d: target %s is not running: dropped", num, t.c_str());
    return;
  }
  // "worker" / "": an idle worker if there is one (round robin), else any running one.
  int pick = -1;
  for (int pass = 0; pass < 2 && pick < 0; pass++)
    for (int k = 0; k < nworkers_; k++) {
      int id = (rr_ + k) % nworkers_ + 1;
      if (alive(id) && (pass == 1 || !idle_ || idle_(id))) {
        pick = id;
        break;
      }
    }
  if (pick < 0) {
    log_line("uwsgi signal %d: no worker running: dropped", num);
    return;
  }
  rr_ = pick % nworkers_;
  send_to_worker(pick, num);
}

void SignalFramework::master_add_timer(int num, uint64_t ms, int iterations) {
  for (auto& t : timers_)
    if (t.num == num && t.interval_ms == ms) return;  // with --lazy-apps every worker registers it
  timers_.push_back({num, ms, monotonic_ms() + ms, iterations});
  log_line("timer for uwsgi signal %d every %llu ms registered", num, (unsigned long long)ms);
}

int SignalFramework::run_timers(int max_ms) {
  uint64_t now = monotonic_ms();
  int next = max_ms;
  for (size_t i = 0; i < timers_.size();) {
    Timer& t = timers_[i];
    if (now >= t.next_ms) {
      route(t.num);
      t.next_ms = now + t.interval_ms;
      if (t.left > 0 && --t.left == 0) {
        timers_.erase(timers_.begin() + i);
        continue;
      }
    }
    int d = (int)(t.next_ms - now);
    if (d < next) next = d;
    i++;
  }
  return next < 0 ? 0 : next;
}

bool SignalFramework::master_add_monitor(int num, const std::string& path, std::string* err) {
  for (auto& m : monitors_)
    if (m.num == num && m.path == path) return true;
  if (inotify_fd_ < 0) {
    inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotify_fd_ < 0) {
      *err = std::string("inotify_init1: ") + strerror(errno);
      return false;
    }
  }
  int wd = inotify_add_watch(inotify_fd_, path.c_str(),
                             IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM |
                                 IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF);
  if (wd < 0) {
    *err = std::string("inotify_add_watch: ") + strerror(errno);
    return false;
  }
  monitors_.push_back({wd, num, path});
  log_line("file monitor for uwsgi signal %d on %s registered", num, path.c_str());
  return true;
}

void SignalFramework::read_inotify() {
  if (inotify_fd_ < 0) return;
  alignas(inotify_event) char buf[8192];
  bool fire[256] = {};
  for (;;) {
    ssize_t n = ::read(inotify_fd_, buf, sizeof buf);
    if (n <= 0) break;
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      for (auto& m : monitors_)
        if (m.wd == ev->wd) fire[m.num] = true;
      p += sizeof(inotify_event) + ev->len;
    }
  }
  for (int i = 0; i < 256; i++)  // one signal per batch of events, however many changes
    if (fire[i]) route(i);
}

// ---- worker side ---------------------------------------------------------------------------

void SignalFramework::worker_read_channel(bool discard) {
  if (worker_chan_ < 0) return;
  char buf[64];
  for (;;) {
    ssize_t n = ::recv(worker_chan_, buf, sizeof buf - 1, MSG_DONTWAIT);
    if (n == 0) {  // the master is gone: stop watching a channel that would stay readable
      ::close(worker_chan_);
      worker_chan_ = -1;
      return;
    }
    if (n < 0) return;
    buf[n] = 0;
    if (buf[0] == 'S' && !discard) deliver_locally(atoi(buf + 2));
  }
}

void SignalFramework::deliver_locally(int num) {
  num &= 0xff;
  if (my_id_ > 0 && scoreboard().ready()) scoreboard().worker(my_id_).signals.fetch_add(1);
  last_received_ = num;
  if (waiting_ && wait_got_ < 0 && (wait_num_ < 0 || wait_num_ == num)) {
    wait_got_ = num;  // taken by signal_wait(): the handler does not run
    return;
  }
  Handler& h = handlers_[num];
  if (!h.h) {
    log_line("uwsgi signal %d received by worker %d, which has no handler for it", num, my_id_);
    return;
  }
  h.h->run_signal(num, h.data);
}

}  // namespace uwsgi
