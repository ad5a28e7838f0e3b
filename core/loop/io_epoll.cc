// The "epoll" I/O engine: level-triggered epoll, one-shot timers in a binary min-heap with lazy
// cancellation, and an eventfd so wakeup() is a single async-signal-safe write().
#include "loop/io_epoll.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace uwsgi {
namespace {

// Microseconds on CLOCK_MONOTONIC: timers are given in ms, but deadlines keep µs so a timer
// never fires early because "now" was rounded down.
uint64_t now_us() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

uint32_t to_epoll(int events) {
  uint32_t e = 0;
  if (events & kIoRead) e |= EPOLLIN;
  if (events & kIoWrite) e |= EPOLLOUT;
  return e;
}

class EpollIoEngine final : public IoEngine {
 public:
  ~EpollIoEngine() override {
    if (epfd_ >= 0) close(epfd_);
    if (evfd_ >= 0) close(evfd_);
  }

  const char* name() const override { return "epoll"; }

  bool init(std::string* err) override {
    if (epfd_ >= 0) return true;
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) return fail(err, "epoll_create1");
    evfd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (evfd_ < 0) return fail(err, "eventfd");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = evfd_;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &ev) != 0) return fail(err, "epoll_ctl(eventfd)");
    return true;
  }

  bool watch(int fd, int events, void* data) override {
    if (fd < 0 || epfd_ < 0) return false;
    events &= kIoRead | kIoWrite;
    if (events == 0) {
      unwatch(fd);
      return true;
    }
    epoll_event ev{};
    ev.events = to_epoll(events);
    // The fd, not data, goes to the kernel: delivery looks the fd up, so a stale readiness for
    // an fd that was unwatched meanwhile is dropped instead of handing out a dead pointer.
    ev.data.fd = fd;
    auto it = fds_.find(fd);
    if (it != fds_.end()) {
      if (it->second.events != events && epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) != 0) return false;
      it->second = {events, data};
      return true;
    }
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      if (errno != EEXIST || epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) != 0) return false;
    }
    fds_.emplace(fd, Watch{events, data});
    return true;
  }

  void unwatch(int fd) override {
    auto it = fds_.find(fd);
    if (it == fds_.end()) return;
    fds_.erase(it);
    if (epfd_ >= 0) epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
  }

  uint64_t add_timer(uint64_t ms, void* data) override {
    const uint64_t id = next_id_++;
    heap_.push_back({now_us() + ms * 1000u, id, data});
    std::push_heap(heap_.begin(), heap_.end(), Later{});
    live_.insert(id);
    return id;
  }

  void cancel_timer(uint64_t id) override {
    if (live_.erase(id) == 0) return;
    // Lazy: the heap entry stays until it surfaces, unless the dead outnumber the live.
    if (heap_.size() > 64 && heap_.size() > 2 * live_.size()) compact();
  }

  int wait(int timeout_ms, IoReady* out, int max) override {
    if (max <= 0 || epfd_ < 0) return 0;
    int n = pop_expired(out, max);
    if (n >= max) return n;

    int t = n > 0 ? 0 : poll_timeout(timeout_ms);
    const int cap = std::min(max - n, kBatch);
    epoll_event evs[kBatch];
    int r = epoll_wait(epfd_, evs, cap, t);
    if (r < 0) r = 0;  // EINTR: a signal is news the caller wants to look at
    for (int i = 0; i < r; i++) {
      const int fd = evs[i].data.fd;
      if (fd == evfd_) {
        uint64_t v;
        while (read(evfd_, &v, sizeof v) > 0) {
        }
        continue;
      }
      auto it = fds_.find(fd);
      if (it == fds_.end()) continue;
      const int ready = from_epoll(evs[i].events, it->second.events);
      if (ready) out[n++] = {it->second.data, ready};
    }
    if (n < max) n += pop_expired(out + n, max - n);
    return n;
  }

  void wakeup() override {
    if (evfd_ < 0) return;
    const int saved = errno;  // may run in a signal handler
    uint64_t one = 1;
    ssize_t w = write(evfd_, &one, sizeof one);
    (void)w;  // EAGAIN means the counter is already non-zero: a wakeup is pending anyway
    errno = saved;
  }

 private:
  static constexpr int kBatch = 256;

  struct Watch {
    int events;
    void* data;
  };
  struct Timer {
    uint64_t deadline_us;
    uint64_t id;
    void* data;
  };
  // Min-heap on (deadline, id): equal deadlines fire in the order they were added.
  struct Later {
    bool operator()(const Timer& a, const Timer& b) const {
      return a.deadline_us != b.deadline_us ? a.deadline_us > b.deadline_us : a.id > b.id;
    }
  };

  bool fail(std::string* err, const char* what) {
    if (err) *err = std::string("epoll engine: ") + what + ": " + strerror(errno);
    if (epfd_ >= 0) close(epfd_);
    if (evfd_ >= 0) close(evfd_);
    epfd_ = evfd_ = -1;
    return false;
  }

  // Hang-up and error count as readiness for whatever was asked, so the waiter tries its
  // read/write and sees EOF or the error itself.
  static int from_epoll(uint32_t e, int interest) {
    int r = 0;
    if (e & (EPOLLIN | EPOLLHUP | EPOLLERR)) r |= interest & kIoRead;
    if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) r |= interest & kIoWrite;
    if (e & EPOLLERR) r |= kIoError;
    return r;
  }

  // Drops cancelled timers from the top, then hands out the expired ones in deadline order.
  int pop_expired(IoReady* out, int max) {
    int n = 0;
    uint64_t now = 0;
    while (!heap_.empty() && n < max) {
      const Timer& top = heap_.front();
      if (!live_.count(top.id)) {
        std::pop_heap(heap_.begin(), heap_.end(), Later{});
        heap_.pop_back();
        continue;
      }
      if (now == 0) now = now_us();
      if (top.deadline_us > now) break;
      out[n++] = {top.data, kIoTimeout};
      live_.erase(top.id);
      std::pop_heap(heap_.begin(), heap_.end(), Later{});
      heap_.pop_back();
    }
    return n;
  }

  // The caller's timeout, shortened to the next live timer (rounded up: never wake early).
  int poll_timeout(int timeout_ms) {
    while (!heap_.empty() && !live_.count(heap_.front().id)) {
      std::pop_heap(heap_.begin(), heap_.end(), Later{});
      heap_.pop_back();
    }
    if (heap_.empty()) return timeout_ms;
    const uint64_t now = now_us();
    const uint64_t d = heap_.front().deadline_us;
    const uint64_t left_ms = d > now ? (d - now + 999) / 1000 : 0;
    if (timeout_ms < 0 || left_ms < static_cast<uint64_t>(timeout_ms)) {
      return static_cast<int>(std::min<uint64_t>(left_ms, 1u << 30));
    }
    return timeout_ms;
  }

  void compact() {
    std::vector<Timer> keep;
    keep.reserve(live_.size());
    for (const Timer& t : heap_) {
      if (live_.count(t.id)) keep.push_back(t);
    }
    heap_.swap(keep);
    std::make_heap(heap_.begin(), heap_.end(), Later{});
  }

  int epfd_ = -1;
  int evfd_ = -1;
  std::unordered_map<int, Watch> fds_;
  std::vector<Timer> heap_;
  std::unordered_set<uint64_t> live_;
  uint64_t next_id_ = 1;
};

}  // namespace

std::unique_ptr<IoEngine> make_epoll_io_engine() { return std::make_unique<EpollIoEngine>(); }

}  // namespace uwsgi
