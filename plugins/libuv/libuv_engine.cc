// libuv: an I/O engine on a private libuv loop (uv_poll_t per fd, uv_timer_t per timer,
// uv_async_t wakeup).
//
// libuv handles are freed only from their close callback, which runs on a later loop iteration,
// so every handle is heap-allocated and owned by the loop between uv_close() and that callback.
// Readiness is queued by fd / timer id (uwsgi::ReadyQueue) and handed out by wait(); whatever does
// not fit in the caller's array waits for the next call.
//
// Every callback that gives wait() something to return calls uv_stop(). libuv 1.44 (Debian 12)
// runs expired timers at the top of a UV_RUN_ONCE iteration, *before* it polls, and then still
// blocks in epoll_wait() for the next timer or fd (forever when there is none): a timer that was
// already due when wait() was entered (a busy or descheduled worker) would be queued but not
// handed out until some unrelated event woke the loop. uv_stop() makes that iteration poll with
// a zero timeout ("the loop won't block for i/o on this iteration"); libuv clears the flag when
// uv_run() returns.
#include <uv.h>

#include <cerrno>
#include <cstring>
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

class LibuvIoEngine;

struct PollWatch {
  uv_poll_t handle;
  LibuvIoEngine* engine = nullptr;
  int fd = -1;
  int interest = 0;
  void* data = nullptr;
  int pending = 0;  // readiness seen but not yet handed out
};

struct TimerWatch {
  uv_timer_t handle;
  LibuvIoEngine* engine = nullptr;
  uint64_t id = 0;
  void* data = nullptr;
  uint64_t deadline = 0;  // uv_now() ms
};

template <class T>
void delete_on_close(uv_handle_t* h) {
  delete static_cast<T*>(h->data);
}

class LibuvIoEngine final : public uwsgi::IoEngine {
 public:
  ~LibuvIoEngine() override {
    if (!loop_) return;
    for (auto& [fd, w] : fds_) uv_close(reinterpret_cast<uv_handle_t*>(&w->handle), delete_on_close<PollWatch>);
    for (auto& [id, t] : timers_) uv_close(reinterpret_cast<uv_handle_t*>(&t->handle), delete_on_close<TimerWatch>);
    fds_.clear();
    timers_.clear();
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&timeout_), nullptr);
    // Let the close callbacks run (they free the watches) before the loop goes away.
    while (uv_run(loop_, UV_RUN_DEFAULT) != 0) {
    }
    uv_loop_close(loop_);
    delete loop_;
  }

  const char* name() const override { return "libuv"; }

  bool init(std::string* err) override {
    if (loop_) return true;
    auto* loop = new uv_loop_t;
    int rc = uv_loop_init(loop);
    if (rc != 0) {
      delete loop;
      if (err) *err = std::string("libuv: uv_loop_init: ") + uv_strerror(rc);
      return false;
    }
    loop_ = loop;
    loop_->data = this;
    uv_async_init(loop_, &async_, &LibuvIoEngine::on_async);
    uv_timer_init(loop_, &timeout_);
    return true;
  }

  bool watch(int fd, int events, void* data) override {
    if (fd < 0 || !loop_) return false;
    events &= kIoRead | kIoWrite;
    if (events == 0) {
      unwatch(fd);
      return true;
    }
    const int evs = (events & kIoRead ? UV_READABLE : 0) | (events & kIoWrite ? UV_WRITABLE : 0);
    PollWatch* w;
    auto it = fds_.find(fd);
    if (it != fds_.end()) {
      w = it->second;
    } else {
      w = new PollWatch;
      w->engine = this;
      w->fd = fd;
      // uv_poll_init also puts the fd in non-blocking mode, which libuv's poller requires.
      if (uv_poll_init(loop_, &w->handle, fd) != 0) {
        delete w;  // never registered with the loop: no close needed
        return false;
      }
      w->handle.data = w;
      fds_.emplace(fd, w);
    }
    w->interest = events;
    w->data = data;
    // Starting an active handle just updates its mask; it also revives one stopped by an error.
    if (uv_poll_start(&w->handle, evs, &LibuvIoEngine::on_poll) != 0) {
      unwatch(fd);
      return false;
    }
    return true;
  }

  void unwatch(int fd) override {
    auto it = fds_.find(fd);
    if (it == fds_.end()) return;
    PollWatch* w = it->second;
    fds_.erase(it);
    // uv_close stops the poll at once (the fd may be closed right after); the memory is freed
    // from the close callback on a later iteration.
    uv_close(reinterpret_cast<uv_handle_t*>(&w->handle), delete_on_close<PollWatch>);
  }

  uint64_t add_timer(uint64_t ms, void* data) override {
    if (!loop_) return 0;
    auto* t = new TimerWatch;
    t->engine = this;
    t->id = next_timer_id_++;
    t->data = data;
    uv_timer_init(loop_, &t->handle);
    t->handle.data = t;
    uv_update_time(loop_);  // uv_now() is cached per iteration: base the timer on the real now
    t->deadline = uv_now(loop_) + ms;
    uv_timer_start(&t->handle, &LibuvIoEngine::on_timer, ms, 0);
    timers_.emplace(t->id, t);
    return t->id;
  }

  void cancel_timer(uint64_t id) override {
    auto it = timers_.find(id);
    if (it == timers_.end()) return;
    TimerWatch* t = it->second;
    timers_.erase(it);
    uv_close(reinterpret_cast<uv_handle_t*>(&t->handle), delete_on_close<TimerWatch>);
  }

  int wait(int timeout_ms, IoReady* out, int max) override {
    if (!loop_ || max <= 0) return 0;
    if (has_queued() || timeout_ms == 0) {
      uv_run(loop_, UV_RUN_NOWAIT);  // pick up fresh readiness too, but never block
    } else {
      woken_ = timed_out_ = false;
      if (timeout_ms > 0) {
        uv_update_time(loop_);
        uv_timer_start(&timeout_, &LibuvIoEngine::on_timeout, static_cast<uint64_t>(timeout_ms), 0);
      }
      // An iteration may return with nothing for us (e.g. it only ran close callbacks): go round
      // until something is queued, wakeup() was called, or the caller's timeout passed. Once
      // one of those happened, the callback's uv_stop() keeps the iteration from blocking.
      do {
        uv_run(loop_, UV_RUN_ONCE);
      } while (!has_queued() && !woken_ && !timed_out_);
      uv_timer_stop(&timeout_);
    }
    return drain(out, max);
  }

  void wakeup() override {
    if (!loop_) return;
    const int saved = errno;  // may run in a signal handler (uv_async_send is signal-safe)
    uv_async_send(&async_);
    errno = saved;
  }

 private:
  static LibuvIoEngine* self(uv_handle_t* h) { return static_cast<LibuvIoEngine*>(h->loop->data); }

  static void on_poll(uv_poll_t* h, int status, int events) {
    auto* w = static_cast<PollWatch*>(h->data);
    int r = 0;
    if (status < 0) {
      r = kIoError | w->interest;  // libuv has stopped the handle (POLLERR)
    } else {
      if (events & (UV_READABLE | UV_DISCONNECT)) r |= kIoRead;
      if (events & UV_WRITABLE) r |= kIoWrite;
    }
    w->engine->ready_.fd_ready(w->fd, &w->pending, r);
    if (r) uv_stop(h->loop);
  }

  static void on_timer(uv_timer_t* h) {
    auto* t = static_cast<TimerWatch*>(h->data);
    t->engine->ready_.timer_fired(t->deadline, t->id);
    uv_stop(h->loop);  // it may have run before the poll: do not block after it (see the top)
  }

  static void on_async(uv_async_t* h) {
    self(reinterpret_cast<uv_handle_t*>(h))->woken_ = true;
    uv_stop(h->loop);
  }
  static void on_timeout(uv_timer_t* h) {
    self(reinterpret_cast<uv_handle_t*>(h))->timed_out_ = true;
    uv_stop(h->loop);  // a timer too: it may have expired before the poll
  }

  bool has_queued() const { return !ready_.empty(); }

  int drain(IoReady* out, int max) {
    return ready_.drain(
        out, max,
        [this](uint64_t id, void** data) {
          auto it = timers_.find(id);
          if (it == timers_.end()) return false;  // cancelled after it fired
          *data = it->second->data;
          cancel_timer(id);  // one-shot: release the handle
          return true;
        },
        [this](int fd) -> PollWatch* {
          auto it = fds_.find(fd);
          return it == fds_.end() ? nullptr : it->second;
        });
  }

  uv_loop_t* loop_ = nullptr;
  uv_async_t async_;
  uv_timer_t timeout_;
  bool woken_ = false;
  bool timed_out_ = false;
  // Raw pointers: a watch outlives its map entry until libuv's close callback frees it.
  std::unordered_map<int, PollWatch*> fds_;
  std::unordered_map<uint64_t, TimerWatch*> timers_;
  uint64_t next_timer_id_ = 1;
  uwsgi::ReadyQueue<uint64_t> ready_;  // deadlines in uv_now() ms
};

class LibuvPlugin final : public uwsgi::Plugin {
 public:
  void on_register(uwsgi::Host& host) override {
    host.add_io_engine("libuv", [](uwsgi::Host&) -> std::unique_ptr<uwsgi::IoEngine> {
      return std::make_unique<LibuvIoEngine>();
    });
  }
};

}  // namespace

UWSGI_PLUGIN(libuv, LibuvPlugin)
