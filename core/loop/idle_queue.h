// Deadlines for idle keep-alive connections parked by a loop engine. Every parked connection
// gets the same timeout, so deadlines arrive in order and a FIFO is enough: expiring is a pop
// from the front, whatever the number of parked connections.
#pragma once

#include <time.h>

#include <cstdint>
#include <deque>

namespace uwsgi {

class IdleQueue {
 public:
  explicit IdleQueue(uint64_t timeout_ms = 30000) : timeout_ms_(timeout_ms) {}
  void set_timeout(uint64_t ms) { timeout_ms_ = ms; }

  static uint64_t now_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  }

  // Records a newly parked fd; the token tells a later expiry whether that parking still holds.
  uint64_t add(int fd) {
    uint64_t token = ++seq_;
    q_.push_back({fd, token, now_ms() + timeout_ms_});
    return token;
  }

  // Milliseconds until the oldest deadline (0 if passed), or -1 when nothing is parked.
  int next_timeout_ms() const {
    if (q_.empty()) return -1;
    uint64_t now = now_ms();
    return q_.front().deadline <= now ? 0 : (int)(q_.front().deadline - now);
  }

  // Calls expired(fd, token) for each passed deadline; the caller closes fd only when its
  // current parking has that token (a woken and re-parked fd has a newer one).
  template <class F>
  void expire(F expired) {
    if (q_.empty()) return;
    uint64_t now = now_ms();
    while (!q_.empty() && q_.front().deadline <= now) {
      Entry e = q_.front();
      q_.pop_front();
      expired(e.fd, e.token);
    }
  }

  void clear() { q_.clear(); }

 private:
  struct Entry {
    int fd;
    uint64_t token;
    uint64_t deadline;
  };
  std::deque<Entry> q_;
  uint64_t timeout_ms_;
  uint64_t seq_ = 0;
};

}  // namespace uwsgi
