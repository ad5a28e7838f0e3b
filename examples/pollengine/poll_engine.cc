// poll: an example I/O engine plugin on poll(2), written against <uwsgi/plugin.h> only.
//
// It is deliberately simple, to show what an IoEngine must do:
//   - fds live in a vector of pollfd (rebuilt nowhere: watch/unwatch edit it in place);
//   - timers live in an ordered set of (deadline, id), so the next one is set.begin();
//   - wakeup() writes a byte to a self-pipe whose read end is always polled.
// poll(2) is O(watched fds) per wait, so this is for learning and modest --async counts; the
// core's epoll engine (or libev/libuv) is what to run in production.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <uwsgi/plugin.h>

namespace {

using uwsgi::IoReady;
using uwsgi::kIoError;
using uwsgi::kIoRead;
using uwsgi::kIoTimeout;
using uwsgi::kIoWrite;

// Milliseconds on CLOCK_MONOTONIC (wall-clock jumps must not fire or stall timers).
uint64_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000u + static_cast<uint64_t>(ts.tv_nsec) / 1000000u;
}

class PollIoEngine final : public uwsgi::IoEngine {
 public:
  ~PollIoEngine() override {
    if (wake_r_ >= 0) close(wake_r_);
    if (wake_w_ >= 0) close(wake_w_);
  }

  const char* name() const override { return "poll"; }

  // Runs in the worker after fork: anything made here belongs to this process only.
  bool init(std::string* err) override {
    if (wake_r_ >= 0) return true;
    int p[2];
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) {
      *err = std::string("poll engine: pipe2: ") + strerror(errno);
      return false;
    }
    wake_r_ = p[0];
    wake_w_ = p[1];
    pfds_.push_back({wake_r_, POLLIN, 0});  // slot 0, always: the wake-up pipe
    data_.push_back(nullptr);
    return true;
  }

  // One interest set per fd: a second watch() replaces the first.
  bool watch(int fd, int events, void* data) override {
    if (fd < 0 || wake_r_ < 0) return false;
    events &= kIoRead | kIoWrite;
    if (events == 0) {
      unwatch(fd);
      return true;
    }
    const short want = static_cast<short>((events & kIoRead ? POLLIN : 0) | (events & kIoWrite ? POLLOUT : 0));
    auto it = slot_.find(fd);
    if (it != slot_.end()) {
      pfds_[it->second].events = want;
      data_[it->second] = data;
      return true;
    }
    slot_[fd] = pfds_.size();
    pfds_.push_back({fd, want, 0});
    data_.push_back(data);
    return true;
  }

  // Swap-with-last removal keeps the vector dense; the moved fd's slot is updated.
  void unwatch(int fd) override {
    auto it = slot_.find(fd);
    if (it == slot_.end()) return;
    const size_t i = it->second, last = pfds_.size() - 1;
    slot_.erase(it);
    if (i != last) {
      pfds_[i] = pfds_[last];
      data_[i] = data_[last];
      slot_[pfds_[i].fd] = i;
    }
    pfds_.pop_back();
    data_.pop_back();
  }

  uint64_t add_timer(uint64_t ms, void* data) override {
    const uint64_t id = next_timer_id_++;
    const uint64_t deadline = now_ms() + ms;
    timers_.insert({deadline, id});
    timer_info_[id] = {deadline, data};
    return id;
  }

  void cancel_timer(uint64_t id) override {
    auto it = timer_info_.find(id);
    if (it == timer_info_.end()) return;  // already fired or cancelled: a no-op, as the API says
    timers_.erase({it->second.deadline, id});
    timer_info_.erase(it);
  }

  int wait(int timeout_ms, IoReady* out, int max) override {
    if (max <= 0 || wake_r_ < 0) return 0;
    // Sleep no longer than the caller asked, nor past the next timer.
    int t = timeout_ms;
    if (!timers_.empty()) {
      const uint64_t now = now_ms(), next = timers_.begin()->first;
      const int left = next > now ? static_cast<int>(std::min<uint64_t>(next - now, 1u << 30)) : 0;
      if (t < 0 || left < t) t = left;
    }
    int r = poll(pfds_.data(), pfds_.size(), t);
    int n = 0;
    if (r > 0) {
      if (pfds_[0].revents) drain_wakeups();
      for (size_t i = 1; i < pfds_.size() && n < max; i++) {
        const int ready = to_events(pfds_[i].revents, pfds_[i].events);
        if (ready) out[n++] = {data_[i], ready};
        // Whatever does not fit in out is still ready next time: poll is level-triggered.
      }
    }
    // r < 0 is EINTR: a signal arrived, and the caller wants to look at it. Report timers anyway.
    n += pop_expired(out + n, max - n);
    return n;
  }

  // May run in a signal handler: one write(2), errno preserved.
  void wakeup() override {
    if (wake_w_ < 0) return;
    const int saved = errno;
    const char b = 1;
    ssize_t w = write(wake_w_, &b, 1);
    (void)w;  // a full pipe means a wake-up is already pending
    errno = saved;
  }

 private:
  struct TimerInfo {
    uint64_t deadline;
    void* data;
  };

  // Hang-up and errors count as readiness for whatever was asked, so the waiter tries its
  // read/write and sees EOF or the error itself. POLLNVAL (fd closed while watched) is an error.
  static int to_events(short revents, short interest) {
    int r = 0;
    if (revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL) && interest & POLLIN) r |= kIoRead;
    if (revents & (POLLOUT | POLLHUP | POLLERR | POLLNVAL) && interest & POLLOUT) r |= kIoWrite;
    if (revents & (POLLERR | POLLNVAL)) r |= kIoError;
    return r;
  }

  void drain_wakeups() {
    char buf[64];
    while (read(wake_r_, buf, sizeof buf) > 0) {
    }
  }

  // Expired timers in deadline order (equal deadlines: creation order, since ids grow).
  int pop_expired(IoReady* out, int max) {
    int n = 0;
    const uint64_t now = now_ms();
    while (n < max && !timers_.empty() && timers_.begin()->first <= now) {
      const uint64_t id = timers_.begin()->second;
      timers_.erase(timers_.begin());
      auto it = timer_info_.find(id);
      out[n++] = {it->second.data, kIoTimeout};
      timer_info_.erase(it);  // one-shot
    }
    return n;
  }

  int wake_r_ = -1, wake_w_ = -1;
  std::vector<pollfd> pfds_;            // what poll(2) gets; [0] is the wake-up pipe
  std::vector<void*> data_;             // data_[i] belongs to pfds_[i]
  std::unordered_map<int, size_t> slot_;  // fd -> index in pfds_
  std::set<std::pair<uint64_t, uint64_t>> timers_;  // (deadline ms, id), soonest first
  std::unordered_map<uint64_t, TimerInfo> timer_info_;
  uint64_t next_timer_id_ = 1;
};

class PollPlugin final : public uwsgi::Plugin {
 public:
  // Before options are parsed: tell the core what this plugin offers.
  void on_register(uwsgi::Host& host) override {
    uwsgi::OptionDef shortcut;
    shortcut.name = "poll-engine";
    shortcut.arg = uwsgi::OptArg::None;
    shortcut.help = "wait for fds and timers with poll(2) (same as --io-engine poll)";
    shortcut.implies = {{"io-engine", "poll"}};
    host.add_option(std::move(shortcut));

    // The factory runs in each worker; the engine's init() follows it there.
    host.add_io_engine("poll", [](uwsgi::Host&) -> std::unique_ptr<uwsgi::IoEngine> {
      return std::make_unique<PollIoEngine>();
    });
  }
};

}  // namespace

// Exports `poll_uwsgi_plugin`: the loader looks for NAME_uwsgi_plugin in NAME_plugin.so.
UWSGI_PLUGIN(poll, PollPlugin)
