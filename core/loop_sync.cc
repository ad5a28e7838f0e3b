// "sync": one request at a time per process. Idle keep-alive connections are parked in epoll
// beside the listening sockets, so a quiet client never holds the worker.
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "host.h"
#include "idle_queue.h"
#include "log.h"
#include "loops.h"

namespace uwsgi {
namespace {

class SyncLoop final : public LoopEngine {
 public:
  explicit SyncLoop(HostImpl& host) : host_(host) {}
  ~SyncLoop() override {
    if (ep_ >= 0) close(ep_);
  }
  const char* name() const override { return "sync"; }

  bool init(Worker& w, std::string* err) override {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) {
      *err = std::string("epoll_create1: ") + strerror(errno);
      return false;
    }
    for (int fd : w.listen_fds()) {
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLEXCLUSIVE;  // one worker woken per connection
      ev.data.u64 = tag(fd, kListen);
      if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        *err = std::string("epoll_ctl: ") + strerror(errno);
        return false;
      }
    }
    idle_.set_timeout((uint64_t)host_.config().get_int("socket-timeout", 30) * 1000);
    if (w.signal_fd() >= 0) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = tag(w.signal_fd(), kSignal);
      epoll_ctl(ep_, EPOLL_CTL_ADD, w.signal_fd(), &ev);
    }
    return true;
  }

  int run(Worker& w) override {
    epoll_event evs[64];
    while (!w.stopping()) {
      int n;
      {
        BlockGuard g(host_.switch_hooks());
        n = epoll_wait(ep_, evs, 64, idle_.next_timeout_ms());
      }
      // Idle keep-alive connections past --socket-timeout are closed.
      idle_.expire([this](int fd, uint64_t token) {
        auto it = parked_.find(fd);
        if (it == parked_.end() || it->second.second != token) return;
        epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
        parked_.erase(it);
        close(fd);
      });
      if (n < 0) {
        if (errno == EINTR) continue;
        log_line("epoll_wait: %s", strerror(errno));
        return 1;
      }
      for (int i = 0; i < n && !w.stopping(); i++) {
        int fd = (int)(evs[i].data.u64 & 0xffffffff);
        int kind = (int)(evs[i].data.u64 >> 32);
        if (kind == kSignal) {
          w.handle_signal_fd();
        } else if (kind == kListen) {
          // Under load more connections are already queued: take a few before epoll_wait again
          // (bounded, so parked keep-alive clients and signals are not starved).
          for (int k = 0; k < 16 && !w.stopping(); k++) {
            int c = w.accept_one(fd);
            if (c < 0) break;
            serve(w, c, fd);
          }
        } else {
          epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
          int lfd = parked_[fd].first;
          parked_.erase(fd);
          serve(w, fd, lfd);
        }
      }
    }
    for (auto& p : parked_) close(p.first);
    parked_.clear();
    idle_.clear();
    return 0;
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
  enum { kListen = 1, kSignal = 2, kParked = 3 };
  static uint64_t tag(int fd, int kind) { return ((uint64_t)kind << 32) | (uint32_t)fd; }

  void serve(Worker& w, int fd, int lfd) {
    if (!w.serve_connection(fd, lfd, 0)) return;
    if (w.stopping()) {
      close(fd);
      return;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = tag(fd, kParked);
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      close(fd);
      return;
    }
    parked_[fd] = {lfd, idle_.add(fd)};
  }

  HostImpl& host_;
  int ep_ = -1;
  std::map<int, std::pair<int, uint64_t>> parked_;  // idle keep-alive fd -> (listening fd, idle token)
  IdleQueue idle_;
};

}  // namespace

std::unique_ptr<LoopEngine> make_sync_loop(HostImpl& host) { return std::make_unique<SyncLoop>(host); }

}  // namespace uwsgi
