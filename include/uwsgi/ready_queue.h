// A helper for I/O engines built on an event library (libev, libuv, ...): the library's callbacks
// queue what became ready, and IoEngine::wait() hands it out in batches of the caller's size.
//
// Readiness is queued by fd and timer id, never by pointer: an fd unwatched (or a timer cancelled)
// between its callback and the hand-out is simply skipped, and the watch behind it may already be
// freed. Header-only, so an out-of-tree engine can use it too.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <utility>

#include <uwsgi/plugin.h>

namespace uwsgi {

template <class Deadline>
class ReadyQueue {
 public:
  // From the library's fd callback. `pending` belongs to that fd's watch and gathers every event
  // seen before the hand-out; the fd is queued once.
  void fd_ready(int fd, int* pending, int events) {
    if (!events) return;
    if (*pending == 0) fds_.push_back(fd);
    *pending |= events;
  }

  // From the library's timer callback.
  void timer_fired(Deadline deadline, uint64_t id) { fired_.push_back({deadline, id}); }

  bool empty() const { return fds_.empty() && fired_.empty(); }

  // Fills out with at most max events: timers first, in deadline order (ties: id, i.e. creation
  // order), then fds in the order they became ready. What does not fit stays queued.
  //   take_timer(id, void** data) -> false when the timer was cancelled; otherwise sets *data and
  //                                  releases the (one-shot) timer.
  //   find_fd(fd) -> the fd's watch (with int pending, int interest, void* data) or nullptr.
  template <class TakeTimer, class FindFd>
  int drain(IoReady* out, int max, TakeTimer take_timer, FindFd find_fd) {
    std::sort(fired_.begin(), fired_.end());
    int n = 0;
    while (n < max && !fired_.empty()) {
      const uint64_t id = fired_.front().second;
      fired_.pop_front();
      void* data = nullptr;
      if (take_timer(id, &data)) out[n++] = {data, kIoTimeout};
    }
    while (n < max && !fds_.empty()) {
      const int fd = fds_.front();
      fds_.pop_front();
      auto* w = find_fd(fd);
      if (!w) continue;  // unwatched since
      const int r = w->pending & (w->interest | kIoError);
      w->pending = 0;
      if (r) out[n++] = {w->data, r};
    }
    return n;
  }

 private:
  std::deque<int> fds_;
  std::deque<std::pair<Deadline, uint64_t>> fired_;  // (deadline, id)
};

}  // namespace uwsgi
