// Deadlines for idle keep-alive connections parked by a loop engine. Every parked connection
// gets the same timeout, so deadlines arrive in order: a list in parking order, expired from the
// front. The list is intrusive and indexed by fd, so a connection woken before its deadline is
// taken out at once (remove) and re-parking moves it to the back: memory stays one node per fd,
// however many requests a keep-alive connection makes. (A FIFO of parkings kept every one until
// its deadline passed: ~24 bytes per keep-alive request for --socket-timeout seconds.)
#pragma once

#include <time.h>

#include <cstdint>
#include <vector>

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

  // Records a newly parked fd (a parking of the same fd still listed is replaced); the token
  // tells a later expiry whether that parking still holds.
  uint64_t add(int fd) {
    if (fd < 0) return 0;
    if ((size_t)fd >= nodes_.size()) nodes_.resize((size_t)fd + 1);
    unlink(fd);
    Node& n = nodes_[fd];
    n.token = ++seq_;
    n.deadline = now_ms() + timeout_ms_;
    n.linked = true;
    n.prev = tail_;
    n.next = -1;
    if (tail_ >= 0) nodes_[tail_].next = fd;
    else head_ = fd;
    tail_ = fd;
    return n.token;
  }

  // fd was woken or closed before its deadline: forget it.
  void remove(int fd) {
    if (fd >= 0 && (size_t)fd < nodes_.size()) unlink(fd);
  }

  // Milliseconds until the oldest deadline (0 if passed), or -1 when nothing is parked.
  int next_timeout_ms() const {
    if (head_ < 0) return -1;
    uint64_t now = now_ms();
    uint64_t d = nodes_[head_].deadline;
    return d <= now ? 0 : (int)(d - now);
  }

  // Calls expired(fd, token) for each passed deadline (taken out of the list first); the caller
  // closes fd only when its current parking has that token.
  template <class F>
  void expire(F expired) {
    if (head_ < 0) return;
    uint64_t now = now_ms();
    while (head_ >= 0 && nodes_[head_].deadline <= now) {
      int fd = head_;
      uint64_t token = nodes_[fd].token;
      unlink(fd);
      expired(fd, token);
    }
  }

  void clear() {
    nodes_.clear();
    head_ = tail_ = -1;
  }

  bool empty() const { return head_ < 0; }

 private:
  struct Node {
    int prev = -1, next = -1;
    bool linked = false;
    uint64_t token = 0;
    uint64_t deadline = 0;
  };

  void unlink(int fd) {
    Node& n = nodes_[fd];
    if (!n.linked) return;
    if (n.prev >= 0) nodes_[n.prev].next = n.next;
    else head_ = n.next;
    if (n.next >= 0) nodes_[n.next].prev = n.prev;
    else tail_ = n.prev;
    n.prev = n.next = -1;
    n.linked = false;
  }

  std::vector<Node> nodes_;  // by fd
  int head_ = -1, tail_ = -1;
  uint64_t timeout_ms_;
  uint64_t seq_ = 0;
};

}  // namespace uwsgi
