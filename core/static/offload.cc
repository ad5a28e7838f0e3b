#include "static/offload.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "log/log.h"
#include "static/static_config.h"

namespace uwsgi {

namespace {

std::atomic<int> g_in_flight{0};  // transfers handed over and not finished

uint64_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// After the last byte: FIN, then read and drop what the client still sends until it closes (a
// close with unread bytes would reset the connection and could destroy the body's tail).
constexpr int kLingerMs = 5000;
constexpr size_t kLingerBytes = 1 << 20;

// A slow reader's socket holds at most this much sent-but-not-yet-transmitted data (plus what
// is in flight). Without the cap the kernel grows each send buffer to tcp_wmem's maximum (4 MiB,
// 3.4 MiB queued per download measured): 50 slow downloads pinned 170 MB of TCP memory, and
// enough of them push TCP into memory pressure, which slows every connection of the machine
// (the worker's included). EPOLLOUT then comes when the queue falls below the mark: one wakeup
// per 256 KiB the client reads.
constexpr int kNotSentLowat = 256 * 1024;

// Transfers are checked for --socket-timeout this often (not at every wakeup).
constexpr uint64_t kSweepMs = 1000;

struct Job {
  int sock = -1, file = -1;
  off_t off = 0;
  size_t left = 0;
  size_t dropped = 0;
  uint64_t last_progress = 0;
  bool lingering = false;
  bool registered = false;
};

class OffloadThread {
 public:
  bool start(std::string* err) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    wake_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ep_ < 0 || wake_ < 0) {
      *err = strerror(errno);
      return false;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;
    epoll_ctl(ep_, EPOLL_CTL_ADD, wake_, &ev);
    std::thread([this] { run(); }).detach();
    return true;
  }

  void push(Job* j) {
    {
      std::lock_guard<std::mutex> g(mu_);
      incoming_.push_back(j);
    }
    uint64_t one = 1;
    (void)!::write(wake_, &one, sizeof one);
  }

 private:
  void run() {
    const int timeout_ms = static_settings().socket_timeout_ms;
    epoll_event evs[64];
    uint64_t next_sweep = now_ms() + kSweepMs;
    for (;;) {
      int n = epoll_wait(ep_, evs, 64, (int)kSweepMs);
      for (int i = 0; i < n; i++) {
        Job* j = (Job*)evs[i].data.ptr;
        if (j) {
          step(j);
          continue;
        }
        uint64_t v;
        (void)!::read(wake_, &v, sizeof v);
        std::vector<Job*> fresh;
        {
          std::lock_guard<std::mutex> g(mu_);
          fresh.swap(incoming_);
        }
        for (Job* f : fresh) {
          f->last_progress = now_ms();
          int lowat = kNotSentLowat;
          setsockopt(f->sock, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);  // best effort (TCP only)
          active_.push_back(f);
          step(f);
        }
      }
      // A client that stopped reading (or a linger that never ends) does not hold the slot.
      uint64_t now = now_ms();
      if (now < next_sweep) continue;
      next_sweep = now + kSweepMs;
      for (size_t i = 0; i < active_.size();) {
        Job* j = active_[i];
        uint64_t limit = j->lingering ? kLingerMs : (uint64_t)timeout_ms;
        if (now - j->last_progress > limit) {
          if (!j->lingering) log_line("offload: client did not read for %d ms: closing (%zu bytes unsent)",
                                      (int)limit, j->left);
          finish(j);  // removes active_[i]
        } else {
          i++;
        }
      }
    }
  }

  void watch(Job* j, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = j;
    epoll_ctl(ep_, j->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, j->sock, &ev);
    j->registered = true;
  }

  void step(Job* j) {
    if (!j->lingering) {
      while (j->left > 0) {
        ssize_t r = ::sendfile(j->sock, j->file, &j->off, std::min<size_t>(j->left, 4 << 20));
        if (r > 0) {
          j->left -= (size_t)r;
          j->last_progress = now_ms();
          continue;
        }
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          // Edge-triggered, registered once: the next event is the next time the socket
          // becomes writable, with no epoll_ctl per wakeup.
          if (!j->registered) watch(j, EPOLLOUT | EPOLLET);
          return;
        }
        // EPIPE/ECONNRESET (the client went away) or a file that shrank: nothing more to do.
        finish(j);
        return;
      }
      ::close(j->file);
      j->file = -1;
      ::shutdown(j->sock, SHUT_WR);
      j->lingering = true;
      j->last_progress = now_ms();
      watch(j, EPOLLIN | EPOLLRDHUP);
    }
    char tmp[16384];
    for (;;) {
      ssize_t r = ::recv(j->sock, tmp, sizeof tmp, MSG_DONTWAIT);
      if (r > 0 && (j->dropped += (size_t)r) < kLingerBytes) continue;
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      finish(j);
      return;
    }
  }

  void finish(Job* j) {
    if (j->registered) epoll_ctl(ep_, EPOLL_CTL_DEL, j->sock, nullptr);
    ::close(j->sock);
    if (j->file >= 0) ::close(j->file);
    auto it = std::find(active_.begin(), active_.end(), j);
    if (it != active_.end()) {
      *it = active_.back();
      active_.pop_back();
    }
    delete j;
    g_in_flight--;
  }

  int ep_ = -1, wake_ = -1;
  std::mutex mu_;
  std::vector<Job*> incoming_;
  std::vector<Job*> active_;  // this thread's jobs (for the timeouts)
};

std::once_flag g_once;
std::vector<OffloadThread*> g_threads;
std::atomic<unsigned> g_next{0};

}  // namespace

bool offload_enabled() { return static_settings().offload_threads > 0; }

bool offload_send_file(int sock, int file_fd, off_t offset, size_t len) {
  // Started in the process that serves (a worker, after the fork): threads do not survive fork().
  std::call_once(g_once, [] {
    for (int i = 0; i < static_settings().offload_threads; i++) {
      auto* t = new OffloadThread();
      std::string err;
      if (!t->start(&err)) {
        log_line("offload: cannot start an offload thread: %s", err.c_str());
        delete t;
        break;
      }
      g_threads.push_back(t);
    }
  });
  if (g_threads.empty()) return false;
  g_in_flight++;
  auto* j = new Job();
  j->sock = sock;
  j->file = file_fd;
  j->off = offset;
  j->left = len;
  g_threads[g_next++ % g_threads.size()]->push(j);
  return true;
}

void offload_drain() {
  int n = g_in_flight.load();
  if (n <= 0) return;
  log_line("offload: waiting for %d transfer(s) to finish before exiting", n);
  // Bounded by --socket-timeout per stalled client, and by --reload-mercy (the master's kill, or
  // the worker's own alarm) overall.
  while (g_in_flight.load() > 0) usleep(20000);
}

}  // namespace uwsgi
