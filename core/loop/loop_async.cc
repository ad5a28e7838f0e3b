// "async": the scheduler. N cores (fibers from a suspend engine) per worker; the main context
// waits on an I/O engine and resumes whichever core's fd or timer fired. A core that would block
// on a socket suspends instead, so one slow client only holds its own core. Idle keep-alive
// connections are parked in the I/O engine and given a core again when they have a request.
//
// A connection gets a core only once its request head is complete (peeked with MSG_PEEK), so
// clients that send half a head and stall (slowloris) wait in an "incoming" set instead of
// holding cores; the set is re-checked every 50 ms and a head not complete within
// --socket-timeout is closed.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

#include <uwsgi/head_peek.h>

#include "host.h"
#include "loop/idle_queue.h"
#include "log/log.h"
#include "loop/loops.h"
#include "process/scoreboard.h"

namespace uwsgi {
namespace {

class AsyncLoop;
struct Core;

enum TagKind { kListen, kSignal, kParked, kCoreFd, kCoreFdShared, kCoreTimer, kIncoming };

struct Tag {
  TagKind kind;
  int fd;
  Core* core;
  int events = 0;  // kCoreFd: what this core waits for on fd
};

// The cores waiting on one fd. The I/O engine keeps one interest per fd, and two cores may wait
// on the same fd at once (a websocket's recv for read, a send from another core with
// request_context= for write): the engine watches the union and the event goes to each core it
// concerns, instead of the second wait replacing (and its end removing) the first one's.
struct FdWaiters {
  Tag tag;  // what the engine is given for the fd
  std::vector<Tag*> cores;
  int events = 0;  // what the engine watches now
};

constexpr int kMaxCoreFds = 8;  // fds one core may wait on at once (uwsgi.wait_fd_* calls)
constexpr size_t kMaxIncoming = 4096;  // connections waiting for a complete head, per worker
constexpr int kRecheckMs = 50;

// A connection whose request head has not fully arrived yet.
struct Incoming {
  Tag tag;
  int lfd;
  uint64_t deadline_ms;
  bool watched;  // waiting for its first bytes in the I/O engine (else re-checked by timer)
};

struct Core final : CoreContext {
  AsyncLoop* loop = nullptr;
  int index = 0;
  std::unique_ptr<Fiber> fiber;
  enum State { kFree, kRunning, kWaiting, kRunnable } state = kFree;
  int conn_fd = -1, conn_lfd = -1;  // work handed to the core
  // Registrations made through the CoreContext API, armed at suspend().
  std::vector<std::pair<int, int>> reg_fds;
  double reg_timer_s = -1;
  // What the core waits on now.
  Tag fd_tags[kMaxCoreFds];
  int nwatched = 0;
  Tag timer_tag{kCoreTimer, -1, nullptr};
  uint64_t timer_id = 0;
  int ready = -1;
  bool timed_out_flag = false;
  uint64_t batch = 0;

  int id() const override { return index; }
  bool register_fd(int fd, int events, int timeout_s, std::string* err) override;
  bool register_timer(double seconds, std::string* err) override;
  bool suspend(std::string* err) override;
  int ready_fd() const override { return ready; }
  bool timed_out() const override { return timed_out_flag; }
};

class AsyncLoop final : public LoopEngine {
 public:
  AsyncLoop(HostImpl& host, std::unique_ptr<SuspendEngine> s, std::unique_ptr<IoEngine> io, int n)
      : host_(host), suspend_(std::move(s)), io_(std::move(io)), ncores_(n) {}
  ~AsyncLoop() override {
    cores_.clear();  // fibers go before the engines that made them
  }
  const char* name() const override { return "async"; }
  int async_cores() const override { return ncores_; }

  bool init(Worker& w, std::string* err) override {
    worker_ = &w;
    if (!io_->init(err)) return false;
    if (!suspend_->init(err)) return false;
    cores_.resize(ncores_);
    for (int i = 0; i < ncores_; i++) {
      auto c = std::make_unique<Core>();
      c->loop = this;
      c->index = i;
      c->timer_tag.core = c.get();
      c->fiber = suspend_->create(&AsyncLoop::core_main, c.get(), err);
      if (!c->fiber) {
        *err = "suspend engine " + std::string(suspend_->name()) + " could not create core " + std::to_string(i) +
               ": " + *err;
        return false;
      }
      cores_[i] = std::move(c);
    }
    for (int i = ncores_ - 1; i >= 0; i--) free_.push_back(cores_[i].get());
    head_timeout_ms_ = (uint64_t)host_.config().get_int("socket-timeout", 30) * 1000;
    idle_.set_timeout(head_timeout_ms_);
    for (int fd : w.listen_fds()) listen_tags_.push_back({kListen, fd, nullptr});
    watch_listeners(true);
    signal_tag_ = {kSignal, w.signal_fd(), nullptr};
    if (w.signal_fd() >= 0) io_->watch(w.signal_fd(), kIoRead, &signal_tag_);
    return true;
  }

  int run(Worker& w) override {
    IoReady evs[128];
    bool draining = false;
    uint64_t grace_end = 0;
    while (true) {
      // Stopping: accept no more (the other workers take the listen queue), but until
      // Worker::kStopGraceMs has passed keep serving the parked and incoming connections whose
      // client sends a request (the answers say Connection: close); then close the idle ones.
      if (w.stopping() && !draining) {
        draining = true;
        watch_listeners(false);
        grace_end = monotonic_ms() + Worker::kStopGraceMs;
      }
      if (draining && !grace_over_ && monotonic_ms() >= grace_end) close_idle_connections();
      if (draining && (int)free_.size() == ncores_ && pending_.empty() &&
          (grace_over_ || (parked_.empty() && incoming_.empty()))) {
        close_idle_connections();
        break;
      }
      int timeout = !runnable_.empty() ? 0 : (draining ? 50 : -1);
      if (incoming_.size() > 0 && (timeout < 0 || timeout > kRecheckMs)) timeout = kRecheckMs;
      int idle_ms = idle_.next_timeout_ms();
      if (idle_ms >= 0 && (timeout < 0 || timeout > idle_ms)) timeout = idle_ms;
      int n;
      if (timeout == 0) {
        n = io_->wait(0, evs, 128);
      } else {
        BlockGuard g(host_.switch_hooks());
        n = io_->wait(timeout, evs, 128);
      }
      batch_++;
      for (int i = 0; i < n; i++) dispatch(w, evs[i]);
      if (!incoming_.empty()) recheck_incoming();
      expire_idle();
      // Cores that yielded without waiting on anything run again now.
      size_t r = runnable_.size();
      for (size_t i = 0; i < r; i++) {
        Core* c = runnable_.front();
        runnable_.pop_front();
        if (c->state == Core::kRunnable) resume(c);
      }
    }
    return 0;
  }

  int wait_fd(int fd, int events, int timeout_ms) override {
    Core* c = current_;
    if (!c) {  // outside any core (start-up code): plain poll
      pollfd p{fd, (short)((events & kIoRead ? POLLIN : 0) | (events & kIoWrite ? POLLOUT : 0)), 0};
      int r = poll(&p, 1, timeout_ms);
      return r < 0 ? -1 : r > 0;
    }
    c->reg_fds.clear();
    c->reg_fds.emplace_back(fd, events);
    c->reg_timer_s = timeout_ms > 0 ? timeout_ms / 1000.0 : -1;
    arm_and_suspend(c);
    return c->timed_out_flag ? 0 : 1;
  }

  CoreContext* current_core() override { return current_; }

  // Called from inside a core.
  void arm_and_suspend(Core* c) {
    c->nwatched = 0;
    for (auto& rf : c->reg_fds) {
      if (c->nwatched == kMaxCoreFds) break;
      Tag& t = c->fd_tags[c->nwatched++];
      t = {kCoreFd, rf.first, c, rf.second};
      add_waiter(&t);
    }
    if (c->reg_timer_s >= 0) c->timer_id = io_->add_timer((uint64_t)(c->reg_timer_s * 1000), &c->timer_tag);
    c->reg_fds.clear();
    c->reg_timer_s = -1;
    c->ready = -1;
    c->timed_out_flag = false;
    if (c->nwatched == 0 && c->timer_id == 0) {
      c->state = Core::kRunnable;  // nothing to wait for: just let the others run once
      runnable_.push_back(c);
    } else {
      c->state = Core::kWaiting;
    }
    c->fiber->suspend();
  }

 private:
  static void core_main(void* arg) {
    Core* c = static_cast<Core*>(arg);
    AsyncLoop* L = c->loop;
    for (;;) {
      if (c->conn_fd >= 0) {
        int fd = c->conn_fd, lfd = c->conn_lfd;
        c->conn_fd = -1;
        if (L->worker_->serve_connection(fd, lfd, c->index)) L->park(fd, lfd);
      }
      c->state = Core::kFree;
      L->free_.push_back(c);
      c->fiber->suspend();
    }
  }

  void resume(Core* c) {
    c->state = Core::kRunning;
    c->batch = batch_;
    current_ = c;
    auto& hooks = host_.switch_hooks();
    for (auto* h : hooks) h->enter_core(c->index);
    c->fiber->resume();
    for (auto it = hooks.rbegin(); it != hooks.rend(); ++it) (*it)->leave_core(c->index);
    current_ = nullptr;
    if (c->state == Core::kFree) core_freed();
  }

  void start_on_free_core(int fd, int lfd) {
    Core* c = free_.back();
    free_.pop_back();
    c->conn_fd = fd;
    c->conn_lfd = lfd;
    resume(c);
  }

  void core_freed() {
    while (!free_.empty() && !pending_.empty()) {  // also while stopping: they sent a request
      auto p = pending_.front();
      pending_.pop_front();
      start_on_free_core(p.first, p.second);
    }
    if (!free_.empty() && !listening_ && !worker_->stopping()) watch_listeners(true);
  }

  // The stop's grace is over: the parked connections (idle since their last answer) and the
  // incoming ones (no complete request yet) are closed without a reset.
  void close_idle_connections() {
    grace_over_ = true;
    std::vector<int> fds;
    for (auto& p : parked_) {
      io_->unwatch(p.first);
      fds.push_back(p.first);
    }
    parked_.clear();
    parked_lfd_.clear();
    idle_.clear();
    for (auto& p : incoming_) {
      if (p.second.watched) io_->unwatch(p.first);
      fds.push_back(p.first);
    }
    incoming_.clear();
    if (!fds.empty()) worker_->close_idle(fds);
  }

  // The core's waits end (an fd or its timer fired): drop them all, then run it.
  void wake(Core* c) {
    for (int i = 0; i < c->nwatched; i++) remove_waiter(&c->fd_tags[i]);
    c->nwatched = 0;
    if (c->timer_id) {
      io_->cancel_timer(c->timer_id);
      c->timer_id = 0;
    }
    resume(c);
  }

  void add_waiter(Tag* t) {
    auto& w = fd_waiters_[t->fd];
    if (!w) {
      w = std::make_unique<FdWaiters>();
      w->tag = {kCoreFdShared, t->fd, nullptr};
    }
    w->cores.push_back(t);
    int events = w->events | t->events;
    if (events != w->events) {
      w->events = events;
      watch_or_log(t->fd, events, &w->tag, "a core's fd");
    }
  }

  void remove_waiter(Tag* t) {
    auto it = fd_waiters_.find(t->fd);
    if (it == fd_waiters_.end()) return;
    FdWaiters& w = *it->second;
    int events = 0;
    for (size_t i = 0; i < w.cores.size();) {
      if (w.cores[i] == t) {
        w.cores.erase(w.cores.begin() + i);
        continue;
      }
      events |= w.cores[i]->events;
      i++;
    }
    if (w.cores.empty()) {
      // The entry stays (reused by the fd's next waits): an event of this batch may still
      // point to its tag.
      io_->unwatch(t->fd);
      w.events = 0;
    } else if (events != w.events) {
      w.events = events;
      watch_or_log(t->fd, events, &w.tag, "a core's fd");
    }
  }

  // A failed watch would silently lose that fd's events forever: say so.
  void watch_or_log(int fd, int events, Tag* t, const char* what) {
    if (!io_->watch(fd, events, t))
      log_line("%s I/O engine refused to watch %s (fd %d): its events are lost", io_->name(), what, fd);
  }

  void watch_listeners(bool on) {
    for (auto& t : listen_tags_) {
      if (on) watch_or_log(t.fd, kIoRead, &t, "a listening socket");
      else io_->unwatch(t.fd);
    }
    listening_ = on;
  }

  // Give fd a core once its head is complete; until then keep it in incoming_.
  void consider(int fd, int lfd, bool fresh) {
    HeadPeek st = peek_request_head(fd);
    auto it = incoming_.find(fd);
    bool ready = st == HeadPeek::kComplete;
    if (ready || st == HeadPeek::kGone || st == HeadPeek::kAbandoned) {
      if (it != incoming_.end()) {
        if (it->second.watched) io_->unwatch(fd);
        incoming_.erase(it);
      }
      if (!ready) {  // closed or broken before sending a whole request: nothing to serve
        if (st == HeadPeek::kAbandoned)
          log_line("client closed the connection in the middle of a request head: closed (fd %d)", fd);
        ::close(fd);
        return;
      }
      if (free_.empty()) pending_.emplace_back(fd, lfd);
      else start_on_free_core(fd, lfd);
      return;
    }
    if (it == incoming_.end()) {
      Incoming& in = incoming_[fd];
      in.tag = {kIncoming, fd, nullptr};
      in.lfd = lfd;
      in.deadline_ms = monotonic_ms() + head_timeout_ms_;
      in.watched = false;
      it = incoming_.find(fd);
    }
    Incoming& in = it->second;
    if (st == HeadPeek::kNothing && fresh && !in.watched) {  // wake when the first bytes arrive
      in.watched = true;
      watch_or_log(fd, kIoRead, &in.tag, "a new connection");
    } else if (st == HeadPeek::kPartial && in.watched) {  // a partial head: level-triggered readiness would spin
      in.watched = false;
      io_->unwatch(fd);
    }
  }

  void recheck_incoming() {
    uint64_t now = monotonic_ms();
    if (now - last_recheck_ms_ < (uint64_t)kRecheckMs) return;
    last_recheck_ms_ = now;
    std::vector<std::pair<int, int>> check, expired;
    for (auto& p : incoming_) {
      if (now >= p.second.deadline_ms) expired.emplace_back(p.first, p.second.lfd);
      else if (!p.second.watched) check.emplace_back(p.first, p.second.lfd);
    }
    for (auto& [fd, lfd] : expired) {
      auto it = incoming_.find(fd);
      if (it->second.watched) io_->unwatch(fd);
      incoming_.erase(it);
      log_line("closing a connection whose request head did not complete within --socket-timeout %llu s",
               (unsigned long long)(head_timeout_ms_ / 1000));
      ::close(fd);
    }
    for (auto& [fd, lfd] : check) consider(fd, lfd, false);
  }

  // Idle keep-alive connections past --socket-timeout are closed.
  void expire_idle() {
    idle_.expire([this](int fd, uint64_t token) {
      auto it = parked_lfd_.find(fd);
      if (it == parked_lfd_.end() || it->second.second != token) return;
      io_->unwatch(fd);
      parked_lfd_.erase(it);
      parked_.erase(fd);
      ::close(fd);
    });
  }

  void park(int fd, int lfd) {
    if (grace_over_) {
      worker_->close_idle({fd});
      return;
    }
    auto& t = parked_[fd];
    t = {kParked, fd, nullptr};
    parked_lfd_[fd] = {lfd, idle_.add(fd)};
    watch_or_log(fd, kIoRead, &t, "an idle keep-alive connection");
  }

  void dispatch(Worker& w, const IoReady& ev) {
    Tag* t = static_cast<Tag*>(ev.data);
    switch (t->kind) {
      case kSignal:
        w.handle_signal_fd();
        break;
      case kListen:
        while (!free_.empty() && !w.stopping() && incoming_.size() < kMaxIncoming) {
          int fd = w.accept_one(t->fd);
          if (fd < 0) break;
          // With cores to spare a new connection goes straight to one (no peek syscall); the
          // complete-head check only guards the last quarter of the cores against slowloris.
          if ((int)free_.size() * 4 > ncores_ && incoming_.empty()) start_on_free_core(fd, t->fd);
          else consider(fd, t->fd, true);
        }
        if (free_.empty() && listening_) watch_listeners(false);  // resumed when a core frees
        break;
      case kParked: {
        int fd = t->fd;
        io_->unwatch(fd);
        int lfd = parked_lfd_[fd].first;
        idle_.remove(fd);
        parked_.erase(fd);
        parked_lfd_.erase(fd);
        consider(fd, lfd, true);
        break;
      }
      case kIncoming: {
        auto it = incoming_.find(t->fd);
        if (it != incoming_.end()) consider(it->first, it->second.lfd, false);
        break;
      }
      case kCoreFd:  // never given to the engine (kCoreFdShared is)
        break;
      case kCoreTimer: {
        Core* c = t->core;
        if (c->state != Core::kWaiting || c->batch == batch_) break;  // stale, or already woken
        c->timed_out_flag = true;
        c->timer_id = 0;
        wake(c);
        break;
      }
      case kCoreFdShared: {
        auto it = fd_waiters_.find(t->fd);
        if (it == fd_waiters_.end()) break;
        // Copied first: a core resumed here may end or start waits on this fd.
        std::vector<Core*> to_wake;
        for (Tag* w : it->second->cores) {
          bool hit = (ev.events & (kIoError | kIoTimeout)) || (ev.events & w->events) || !(ev.events & (kIoRead | kIoWrite));
          if (hit) to_wake.push_back(w->core);
        }
        for (Core* c : to_wake) {
          if (c->state != Core::kWaiting || c->batch == batch_) continue;
          c->ready = t->fd;
          wake(c);
        }
        break;
      }
    }
  }

  HostImpl& host_;
  std::unique_ptr<SuspendEngine> suspend_;
  std::unique_ptr<IoEngine> io_;
  int ncores_;
  Worker* worker_ = nullptr;
  std::vector<std::unique_ptr<Core>> cores_;
  std::vector<Core*> free_;
  std::deque<Core*> runnable_;
  std::deque<std::pair<int, int>> pending_;  // readable parked connections waiting for a core
  std::unordered_map<int, Tag> parked_;
  std::unordered_map<int, std::pair<int, uint64_t>> parked_lfd_;  // fd -> (listening fd, idle token)
  IdleQueue idle_;
  std::unordered_map<int, Incoming> incoming_;
  std::unordered_map<int, std::unique_ptr<FdWaiters>> fd_waiters_;  // fds cores wait(ed) on
  uint64_t head_timeout_ms_ = 30000, last_recheck_ms_ = 0;
  std::vector<Tag> listen_tags_;
  Tag signal_tag_{kSignal, -1, nullptr};
  bool listening_ = false;
  bool grace_over_ = false;  // stopping, and idle connections are closed as they go idle
  Core* current_ = nullptr;
  uint64_t batch_ = 0;
};

bool Core::register_fd(int fd, int events, int timeout_s, std::string* err) {
  if ((int)reg_fds.size() >= kMaxCoreFds) {
    *err = "too many fds registered for one wait (max " + std::to_string(kMaxCoreFds) + ")";
    return false;
  }
  reg_fds.emplace_back(fd, events);
  if (timeout_s > 0 && (reg_timer_s < 0 || timeout_s < reg_timer_s)) reg_timer_s = timeout_s;
  return true;
}

bool Core::register_timer(double seconds, std::string* err) {
  if (seconds < 0) {
    *err = "negative timeout";
    return false;
  }
  if (reg_timer_s < 0 || seconds < reg_timer_s) reg_timer_s = seconds;
  return true;
}

bool Core::suspend(std::string* err) {
  (void)err;
  loop->arm_and_suspend(this);
  return true;
}

}  // namespace

std::unique_ptr<LoopEngine> make_async_loop(HostImpl& host, std::unique_ptr<SuspendEngine> suspend,
                                            std::unique_ptr<IoEngine> io, int cores) {
  return std::make_unique<AsyncLoop>(host, std::move(suspend), std::move(io), cores);
}

}  // namespace uwsgi
