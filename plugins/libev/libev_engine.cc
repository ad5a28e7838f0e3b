// libev: an I/O engine on a private libev loop (ev_io per fd, ev_timer per timer, ev_async wakeup).
//
// libev reports readiness through callbacks; wait() runs the loop once and turns the callbacks
// into IoReady entries. Whatever does not fit in the caller's array stays queued for the next
// wait(), so nothing is lost. Queues hold fds and timer ids, never pointers: an entry whose fd
// was unwatched (or timer cancelled) since it was queued is simply dropped.
#include <ev.h>

#include <cerrno>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

#include <uwsgi/plugin.h>
#include <uwsgi/ready_queue.h>

namespace {

using uwsgi::IoReady;
using uwsgi::kIoError;
using uwsgi::kIoRead;
using uwsgi::kIoTimeout;
using uwsgi::kIoWrite;

class LibevIoEngine final : public uwsgi::IoEngine {
 public:
  ~LibevIoEngine() override {
    if (!loop_) return;
    for (auto& [fd, w] : fds_) ev_io_stop(loop_, &w->io);
    for (auto& [id, t] : timers_) ev_timer_stop(loop_, &t->timer);
    ev_async_stop(loop_, &async_);
    ev_timer_stop(loop_, &timeout_);
    ev_loop_destroy(loop_);
  }

  const char* name() const override { return "libev"; }

  bool init(std::string* err) override {
    if (loop_) return true;
    // A private loop: the default one would grab SIGCHLD, which belongs to the core.
    loop_ = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    if (!loop_) {
      if (err) *err = "libev: ev_loop_new failed";
      return false;
    }
    ev_set_userdata(loop_, this);
    ev_async_init(&async_, &LibevIoEngine::on_async);
    ev_async_start(loop_, &async_);
    ev_timer_init(&timeout_, &LibevIoEngine::on_timeout, 0., 0.);
    return true;
  }

  bool watch(int fd, int events, void* data) override {
    if (fd < 0 || !loop_) return false;
    events &= kIoRead | kIoWrite;
    if (events == 0) {
      unwatch(fd);
      return true;
    }
    const int evs = (events & kIoRead ? EV_READ : 0) | (events & kIoWrite ? EV_WRITE : 0);
    auto it = fds_.find(fd);
    if (it == fds_.end()) {
      auto w = std::make_unique<FdWatch>();
      w->fd = fd;
      ev_io_init(&w->io, &LibevIoEngine::on_io, fd, evs);
      w->io.data = w.get();
      it = fds_.emplace(fd, std::move(w)).first;
    } else if (it->second->interest != events || !ev_is_active(&it->second->io)) {
      // An ev_io may only be changed while stopped (it is also stopped after EV_ERROR).
      ev_io_stop(loop_, &it->second->io);
      ev_io_set(&it->second->io, fd, evs);
    }
    FdWatch* w = it->second.get();
    w->interest = events;
    w->data = data;
    if (!ev_is_active(&w->io)) ev_io_start(loop_, &w->io);
    return true;
  }

  void unwatch(int fd) override {
    auto it = fds_.find(fd);
    if (it == fds_.end()) return;
    ev_io_stop(loop_, &it->second->io);
    fds_.erase(it);
  }

  uint64_t add_timer(uint64_t ms, void* data) override {
    if (!loop_) return 0;
    const uint64_t id = next_timer_id_++;
    auto t = std::make_unique<TimerWatch>();
    t->id = id;
    t->data = data;
    ev_now_update(loop_);  // ev_now() is cached per iteration: base the timer on the real now
    t->deadline = ev_now(loop_) + static_cast<double>(ms) / 1000.0;
    ev_timer_init(&t->timer, &LibevIoEngine::on_timer, static_cast<double>(ms) / 1000.0, 0.);
    t->timer.data = t.get();
    ev_timer_start(loop_, &t->timer);
    timers_.emplace(id, std::move(t));
    return id;
  }

  void cancel_timer(uint64_t id) override {
    auto it = timers_.find(id);
    if (it == timers_.end()) return;
    ev_timer_stop(loop_, &it->second->timer);
    timers_.erase(it);
  }

  int wait(int timeout_ms, IoReady* out, int max) override {
    if (!loop_ || max <= 0) return 0;
    if (has_queued() || timeout_ms == 0) {
      ev_run(loop_, EVRUN_NOWAIT);  // pick up fresh readiness too, but never block
    } else {
      woken_ = timed_out_ = false;
      if (timeout_ms > 0) {
        ev_now_update(loop_);
        ev_timer_set(&timeout_, static_cast<double>(timeout_ms) / 1000.0, 0.);
        ev_timer_start(loop_, &timeout_);
      }
      // One iteration can end with nothing for us (libev housekeeping): go round until
      // something is queued, wakeup() was called, or the caller's timeout passed.
      do {
        ev_run(loop_, EVRUN_ONCE);
      } while (!has_queued() && !woken_ && !timed_out_);
      ev_timer_stop(loop_, &timeout_);
    }
    return drain(out, max);
  }

  void wakeup() override {
    if (!loop_) return;
    const int saved = errno;  // may run in a signal handler
    ev_async_send(loop_, &async_);
    errno = saved;
  }

 private:
  struct FdWatch {
    ev_io io;
    int fd = -1;
    int interest = 0;
    void* data = nullptr;
    int pending = 0;  // readiness seen but not yet handed out
  };
  struct TimerWatch {
    ev_timer timer;
    uint64_t id = 0;
    void* data = nullptr;
    double deadline = 0;
  };

  static LibevIoEngine* self(struct ev_loop* loop) {
    return static_cast<LibevIoEngine*>(ev_userdata(loop));
  }

  static void on_io(struct ev_loop* loop, ev_io* io, int revents) {
    auto* w = static_cast<FdWatch*>(io->data);
    int r = 0;
    if (revents & EV_READ) r |= kIoRead;
    if (revents & EV_WRITE) r |= kIoWrite;
    if (revents & EV_ERROR) r |= kIoError | w->interest;  // libev has stopped the watcher
    self(loop)->ready_.fd_ready(w->fd, &w->pending, r);
  }

  static void on_timer(struct ev_loop* loop, ev_timer* t, int) {
    auto* tw = static_cast<TimerWatch*>(t->data);
    self(loop)->ready_.timer_fired(tw->deadline, tw->id);
  }

  static void on_async(struct ev_loop* loop, ev_async*, int) { self(loop)->woken_ = true; }
  static void on_timeout(struct ev_loop* loop, ev_timer*, int) { self(loop)->timed_out_ = true; }

  bool has_queued() const { return !ready_.empty(); }

  int drain(IoReady* out, int max) {
    return ready_.drain(
        out, max,
        [this](uint64_t id, void** data) {
          auto it = timers_.find(id);
          if (it == timers_.end()) return false;  // cancelled after it fired
          *data = it->second->data;
          timers_.erase(it);  // one-shot: the watcher has stopped itself
          return true;
        },
        [this](int fd) -> FdWatch* {
          auto it = fds_.find(fd);
          return it == fds_.end() ? nullptr : it->second.get();
        });
  }

  struct ev_loop* loop_ = nullptr;
  ev_async async_;
  ev_timer timeout_;
  bool woken_ = false;
  bool timed_out_ = false;
  std::unordered_map<int, std::unique_ptr<FdWatch>> fds_;
  std::unordered_map<uint64_t, std::unique_ptr<TimerWatch>> timers_;
  uint64_t next_timer_id_ = 1;
  uwsgi::ReadyQueue<double> ready_;  // deadlines in ev_now() seconds
};

class LibevPlugin final : public uwsgi::Plugin {
 public:
  void on_register(uwsgi::Host& host) override {
    host.add_io_engine("libev", [](uwsgi::Host&) -> std::unique_ptr<uwsgi::IoEngine> {
      return std::make_unique<LibevIoEngine>();
    });
  }
};

}  // namespace

UWSGI_PLUGIN(libev, LibevPlugin)
