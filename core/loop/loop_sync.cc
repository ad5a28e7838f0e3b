// "sync": one request at a time per thread; --threads N gives a worker N such threads. Idle
// keep-alive connections are parked in epoll beside the listening sockets, so a quiet client
// never holds a thread.
//
// All threads of a worker wait on one epoll instance: whichever thread is free takes the next
// ready connection, new or parked (parked ones are EPOLLONESHOT, so exactly one thread gets each
// wake-up). The worker's main thread is thread 0; the others start in run() and are joined there.
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "host.h"
#include "loop/idle_queue.h"
#include "log/log.h"
#include "loop/loops.h"
#include "process/worker_tuning.h"

namespace uwsgi {
namespace {

// epoll data: the low 32 bits are the fd, the high 32 bits say what it is. Parked connections
// carry (the low bits of) their idle token, so a wake-up for a parking that has since expired,
// and whose fd number was reused, is recognised and dropped.
enum : uint32_t { kListen = 1, kSignal = 2, kStop = 3, kFirstParkTag = 16 };
uint64_t tag(int fd, uint32_t kind) { return ((uint64_t)kind << 32) | (uint32_t)fd; }
uint32_t park_tag(uint64_t token) { return kFirstParkTag + (uint32_t)(token % (UINT32_MAX - kFirstParkTag)); }

// Runs a thread other than the worker's main one inside the language plugins' view of "a thread
// that may run requests": after_block() first (Python attaches a thread state and takes the GIL),
// before_block() last (Python lets go of it). See SwitchHooks in plugin.h.
class PluginThreadScope {
 public:
  explicit PluginThreadScope(const std::vector<SwitchHooks*>& h) : hooks_(h) {
    for (auto it = hooks_.rbegin(); it != hooks_.rend(); ++it) (*it)->after_block();
  }
  ~PluginThreadScope() {
    for (auto* x : hooks_) x->before_block();
  }

 private:
  const std::vector<SwitchHooks*>& hooks_;
};

// A request thread with the stack --thread-stacksize asks for (std::thread cannot set one);
// 0 = the system's default. false + errno-style code in *rc when it cannot start.
bool start_thread(std::function<void()> fn, size_t stack_bytes, pthread_t* out, int* rc) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  if (stack_bytes > 0 && (*rc = pthread_attr_setstacksize(&attr, stack_bytes)) != 0) {
    pthread_attr_destroy(&attr);
    return false;
  }
  auto* heap = new std::function<void()>(std::move(fn));
  *rc = pthread_create(out, &attr, [](void* p) -> void* {
    std::unique_ptr<std::function<void()>> f(static_cast<std::function<void()>*>(p));
    (*f)();
    return nullptr;
  }, heap);
  pthread_attr_destroy(&attr);
  if (*rc != 0) delete heap;
  return *rc == 0;
}

class SyncLoop final : public LoopEngine {
 public:
  SyncLoop(HostImpl& host, int threads) : host_(host), threads_(threads < 1 ? 1 : threads) {}
  ~SyncLoop() override {
    if (ep_ >= 0) close(ep_);
    if (stop_fd_ >= 0) close(stop_fd_);
  }
  const char* name() const override { return "sync"; }
  int async_cores() const override { return threads_; }  // one request slot per thread

  bool init(Worker& w, std::string* err) override {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) {
      *err = std::string("epoll_create1: ") + strerror(errno);
      return false;
    }
    for (int fd : w.listen_fds()) {
      // EPOLLEXCLUSIVE: one worker process woken per connection. Level-triggered, so while
      // connections wait in the queue every free thread of this worker is told.
      if (!add(fd, EPOLLIN | EPOLLEXCLUSIVE, tag(fd, kListen), err)) return false;
    }
    idle_.set_timeout((uint64_t)host_.config().get_int("socket-timeout", 30) * 1000);
    // One thread at a time runs the signal channel (ONESHOT, re-armed after each read).
    if (w.signal_fd() >= 0 && !add(w.signal_fd(), EPOLLIN | EPOLLONESHOT, tag(w.signal_fd(), kSignal), err))
      return false;
    if (threads_ > 1) {
      // Readable for good once the worker stops: wakes every thread waiting in epoll_wait.
      stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      if (stop_fd_ < 0) {
        *err = std::string("eventfd: ") + strerror(errno);
        return false;
      }
      if (!add(stop_fd_, EPOLLIN, tag(stop_fd_, kStop), err)) return false;
    }
    return true;
  }

  int run(Worker& w) override {
    const auto& hooks = host_.switch_hooks();
    std::vector<pthread_t> others;
    const size_t stack = thread_stack_bytes(host_.config());
    for (int i = 1; i < threads_; i++) {
      pthread_t t;
      int rc = 0;
      if (!start_thread([this, &w, &hooks, i] {
            PluginThreadScope scope(hooks);
            serve_loop(w, i);
          }, stack, &t, &rc)) {
        log_line("worker %d: cannot start thread %d of %d: %s", w.id(), i, threads_, strerror(rc));
        break;
      }
      others.push_back(t);
    }
    int rc = serve_loop(w, 0);
    wake_all();
    {
      BlockGuard g(hooks);  // the others need the GIL to finish their requests
      for (pthread_t t : others) pthread_join(t, nullptr);
    }
    serve_parked_until_grace(w);
    std::vector<int> idle;
    for (auto& p : parked_) idle.push_back(p.first);
    parked_.clear();
    idle_.clear();
    w.close_idle(idle);
    return rc;
  }

  int wait_fd(int fd, int events, int timeout_ms) override {
    pollfd p{fd, (short)((events & kIoRead ? POLLIN : 0) | (events & kIoWrite ? POLLOUT : 0)), 0};
    for (;;) {
      int r;
      {
        BlockGuard g(host_.switch_hooks());
        r = poll(&p, 1, timeout_ms);
      }
      if (r < 0 && errno == EINTR) continue;
      return r < 0 ? -1 : (r > 0 ? 1 : 0);
    }
  }

  CoreContext* current_core() override { return nullptr; }

 private:
  struct Parking {
    int listen_fd;
    uint64_t token;
  };

  bool add(int fd, uint32_t events, uint64_t data, std::string* err) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = data;
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) == 0) return true;
    *err = std::string("epoll_ctl: ") + strerror(errno);
    return false;
  }

  // Ends every thread's loop: the worker stops, or one thread's epoll_wait failed.
  void wake_all() {
    ended_.store(true, std::memory_order_relaxed);
    if (stop_fd_ < 0) return;
    uint64_t one = 1;
    ssize_t r = write(stop_fd_, &one, sizeof one);
    (void)r;
  }

  // The signal channel is EPOLLONESHOT (one thread handles a wake-up): armed again once handled.
  void rearm_oneshot(int fd, uint64_t data) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.u64 = data;
    epoll_ctl(ep_, EPOLL_CTL_MOD, fd, &ev);
  }

  // Thread `slot` serves connections until the worker stops; its requests run as core `slot`.
  int serve_loop(Worker& w, int slot) {
    epoll_event evs[64];
    // With one thread, taking several events per wait saves epoll_wait calls. With more, a
    // thread takes one: the events it left are still reported to the next free thread.
    const int max_events = threads_ > 1 ? 1 : 64;
    while (!w.stopping() && !ended_.load(std::memory_order_relaxed)) {
      // With several threads, a busy thread first looks for ready work without letting go of
      // the GIL: handing it to another thread and back costs two context switches per request.
      int n = threads_ > 1 ? epoll_wait(ep_, evs, max_events, 0) : 0;
      if (n == 0) {
        BlockGuard g(host_.switch_hooks());
        n = epoll_wait(ep_, evs, max_events, next_timeout_ms());
      }
      expire_idle();
      if (n < 0) {
        if (errno == EINTR) continue;
        log_line("epoll_wait: %s", strerror(errno));
        wake_all();
        return 1;
      }
      for (int i = 0; i < n && !w.stopping(); i++) {
        int fd = (int)(evs[i].data.u64 & 0xffffffff);
        uint32_t kind = (uint32_t)(evs[i].data.u64 >> 32);
        if (kind == kStop) break;  // ended_ is set
        if (kind == kSignal) {
          w.handle_signal_fd();
          rearm_oneshot(fd, evs[i].data.u64);
        } else if (kind == kListen) {
          // Under load more connections are already queued: one thread alone takes a few
          // before epoll_wait again (bounded, so parked clients and signals are not starved).
          for (int k = 0; k < (threads_ > 1 ? 1 : 16) && !w.stopping(); k++) {
            int c = w.accept_one(fd);
            if (c < 0) break;
            serve(w, c, fd, slot);
          }
        } else {
          int lfd = unpark(fd, kind);
          if (lfd >= 0) serve(w, fd, lfd, slot);
        }
      }
    }
    wake_all();
    return 0;
  }

  // (A connection that goes idle while the worker stops is parked too: see
  // serve_parked_until_grace.)
  void serve(Worker& w, int fd, int lfd, int slot) {
    if (w.serve_connection(fd, lfd, slot)) park(fd, lfd);
  }

  // The worker stops (every thread has left serve_loop; this is the main thread): accept no
  // more (the other workers take the listen queue), but for Worker::kStopGraceMs still answer
  // the parked connections whose client sends its next request, each answer saying
  // Connection: close. The caller closes the ones still idle.
  void serve_parked_until_grace(Worker& w) {
    for (int fd : w.listen_fds()) epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
    if (stop_fd_ >= 0) epoll_ctl(ep_, EPOLL_CTL_DEL, stop_fd_, nullptr);
    // Wake-ups the threads took but left unhandled when the stop came disarmed those fds
    // (EPOLLONESHOT): arm every parked one again.
    for (auto& p : parked_) {
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
      ev.data.u64 = tag(p.first, park_tag(p.second.token));
      epoll_ctl(ep_, EPOLL_CTL_MOD, p.first, &ev);
    }
    uint64_t deadline = IdleQueue::now_ms() + Worker::kStopGraceMs;
    epoll_event evs[64];
    while (!parked_.empty()) {
      uint64_t now = IdleQueue::now_ms();
      if (now >= deadline) break;
      int n;
      {
        BlockGuard g(host_.switch_hooks());
        n = epoll_wait(ep_, evs, 64, (int)(deadline - now));
      }
      if (n < 0 && errno != EINTR) break;
      for (int i = 0; i < n; i++) {
        int fd = (int)(evs[i].data.u64 & 0xffffffff);
        uint32_t kind = (uint32_t)(evs[i].data.u64 >> 32);
        if (kind == kSignal) {
          w.handle_signal_fd();
          rearm_oneshot(fd, evs[i].data.u64);
        } else if (kind >= kFirstParkTag) {
          int lfd = unpark(fd, kind);
          if (lfd >= 0) serve(w, fd, lfd, 0);
        }
      }
    }
  }

  void park(int fd, int lfd) {
    std::lock_guard<std::mutex> lk(mu_);
    uint64_t token = idle_.add(fd);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
    ev.data.u64 = tag(fd, park_tag(token));
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      close(fd);
      return;
    }
    parked_[fd] = {lfd, token};
  }

  // Takes a woken parked fd out of the parked set; its listening fd, or -1 if that parking
  // expired (and the fd was closed, maybe reused) before this thread got to it.
  int unpark(int fd, uint32_t kind) {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = parked_.find(fd);
    if (it == parked_.end() || park_tag(it->second.token) != kind) return -1;
    int lfd = it->second.listen_fd;
    parked_.erase(it);
    idle_.remove(fd);
    epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
    return lfd;
  }

  int next_timeout_ms() {
    std::lock_guard<std::mutex> lk(mu_);
    return idle_.next_timeout_ms();
  }

  // Idle keep-alive connections past --socket-timeout are closed.
  void expire_idle() {
    std::lock_guard<std::mutex> lk(mu_);
    idle_.expire([this](int fd, uint64_t token) {
      auto it = parked_.find(fd);
      if (it == parked_.end() || it->second.token != token) return;
      epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
      parked_.erase(it);
      close(fd);
    });
  }

  HostImpl& host_;
  const int threads_;
  int ep_ = -1;
  int stop_fd_ = -1;
  std::atomic<bool> ended_{false};
  std::mutex mu_;  // guards parked_ and idle_
  std::unordered_map<int, Parking> parked_;  // idle keep-alive fd -> where it came from
  IdleQueue idle_;
};

}  // namespace

std::unique_ptr<LoopEngine> make_sync_loop(HostImpl& host, int threads) {
  return std::make_unique<SyncLoop>(host, threads);
}

}  // namespace uwsgi
