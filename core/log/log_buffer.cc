#include "log/log_buffer.h"

#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <thread>

#include "log/log.h"
#include "log/log_rotation.h"

namespace uwsgi {
namespace {

constexpr size_t kBatchBytes = 32 * 1024;                   // written at once when this much waits
constexpr auto kGatherTime = std::chrono::milliseconds(10);  // else lines gather this long first

struct LogState {
  std::mutex mu;
  std::condition_variable more;     // the writer thread waits for lines
  std::condition_variable drained;  // log_flush() and the writer wait for a write to end
  std::string queue, spare;         // spare: the last batch's buffer, reused
  size_t limit = 1 << 20;
  uint64_t dropped = 0;  // since the last "dropped" line
  uint64_t dropped_total = 0;
  bool writing = false;   // a batch is being written (by the writer thread or log_write_now)
  bool flushing = false;  // log_flush() waits: no gathering
  bool thread_started = false;
  bool no_thread = false;  // the thread could not start: the callers write
  int dgram_fd = -1;
  size_t max_dgram = 65536;
  void (*before_write)() = nullptr;
};

LogState* g_state = nullptr;  // never freed: the writer may still run while the process exits

void on_prepare_fork() { g_state->mu.lock(); }
void on_parent_fork() { g_state->mu.unlock(); }
// The child has no writer thread, and the parent writes what was queued.
void on_child_fork() {
  LogState& s = *g_state;
  s.queue.clear();
  s.dropped = 0;
  s.writing = s.flushing = s.thread_started = false;
  new (&s.more) std::condition_variable;
  new (&s.drained) std::condition_variable;
  s.mu.unlock();
}

LogState& state() {
  static LogState* s = [] {
    g_state = new LogState;
    pthread_atfork(on_prepare_fork, on_parent_fork, on_child_fork);
    atexit([] { log_flush(); });
    return g_state;
  }();
  return *s;
}

// The longest run of whole lines from p within max bytes; a first line longer than max alone.
size_t whole_lines(const char* p, size_t n, size_t max) {
  if (n <= max) return n;
  const void* nl = memrchr(p, '\n', max);
  if (nl) return (const char*)nl - p + 1;
  nl = memchr(p, '\n', n);
  return nl ? (const char*)nl - p + 1 : n;
}

// To the master (--log-master): one datagram per run of whole lines, so lines of several
// workers never mix; a line longer than a datagram is cut (and ended with a newline). Returns
// the bytes taken (less than n when !block and the socket is full).
size_t send_datagrams(LogState& s, const char* p, size_t n, bool block) {
  size_t done = 0;
  while (done < n) {
    size_t len = whole_lines(p + done, n - done, s.max_dgram);
    iovec iov[2] = {{(void*)(p + done), len}, {(void*)"\n", 1}};
    msghdr mh{};
    mh.msg_iov = iov;
    mh.msg_iovlen = 1;
    if (len > s.max_dgram) {  // cut
      iov[0].iov_len = s.max_dgram - 1;
      mh.msg_iovlen = 2;
    }
    ssize_t r = sendmsg(s.dgram_fd, &mh, MSG_NOSIGNAL | (block ? 0 : MSG_DONTWAIT));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !block) return done;
    done += len;  // sent, or the master is gone: nothing else to do with it
  }
  return done;
}

// To the log file, pipe or terminal. A pipe takes writes of up to PIPE_BUF bytes whole, so
// several processes writing it are cut only at line ends.
void write_fd(const char* p, size_t n) {
  int fd = log_fd();
  struct stat st;
  size_t max = fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) ? PIPE_BUF : n;
  while (n > 0) {
    size_t len = whole_lines(p, n, max);
    while (len > 0) {
      ssize_t r = write(fd, p, len);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return;  // a broken log: nothing else to do with it
      p += r;
      n -= r;
      len -= r;
    }
  }
}

// Writes outside the lock; the caller set s.writing, so no other write runs meanwhile.
size_t output(LogState& s, const char* p, size_t n, bool block) {
  if (s.dgram_fd >= 0) return send_datagrams(s, p, n, block);
  if (s.before_write) s.before_write();
  if (!g_log_rotation) {
    write_fd(p, n);
    return n;
  }
  // --log-maxsize: a line at a time, so the file is rotated as soon as it is full (not a batch later).
  for (size_t done = 0; done < n;) {
    size_t len = whole_lines(p + done, n - done, 1);
    write_fd(p + done, len);
    if (g_log_rotation) rotate_log_if_full(log_fd());
    done += len;
  }
  return n;
}

void writer_main() {
  LogState& s = *g_state;
  std::unique_lock<std::mutex> lk(s.mu);
  for (;;) {
    s.more.wait(lk, [&] { return !s.queue.empty() || s.dropped > 0; });
    // Gather: one write for the lines of many requests. log_flush() does not wait for it.
    if (!s.flushing && s.queue.size() < kBatchBytes)
      s.more.wait_for(lk, kGatherTime, [&] { return s.flushing || s.queue.size() >= kBatchBytes; });
    s.drained.wait(lk, [&] { return !s.writing; });  // log_write_now() is writing
    std::string batch;
    batch.swap(s.queue);
    s.queue.swap(s.spare);
    uint64_t dropped = s.dropped;
    s.dropped = 0;
    s.writing = true;
    lk.unlock();
    output(s, batch.data(), batch.size(), true);
    if (dropped > 0) {
      char m[128];
      int k = snprintf(m, sizeof m, "uwsgi: %llu log lines dropped: the log destination was too slow\n",
                       (unsigned long long)dropped);
      output(s, m, (size_t)k, true);
    }
    lk.lock();
    s.writing = false;
    batch.clear();
    if (batch.capacity() <= 4 * kBatchBytes && s.spare.capacity() < batch.capacity()) s.spare.swap(batch);
    s.drained.notify_all();
  }
}

// Under s.mu: starts the writer thread if it does not run. Its signals are blocked, so the
// process's handlers keep running on the threads they ran on.
void start_writer(LogState& s) {
  if (s.thread_started || s.no_thread) return;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  try {
    std::thread(writer_main).detach();
    s.thread_started = true;
  } catch (const std::system_error&) {
    s.no_thread = true;
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

// Under s.mu (held by lk): queues the lines, or counts them dropped when the queue is full.
void enqueue_locked(LogState& s, std::unique_lock<std::mutex>& lk, const char* data, size_t n) {
  if (s.queue.size() + n > s.limit) {
    s.dropped++;
    s.dropped_total++;
    return;
  }
  start_writer(s);
  if (s.no_thread) {  // no thread to hand them to: write here, as before
    lk.unlock();
    output(s, data, n, true);
    lk.lock();
    return;
  }
  bool wake = s.queue.empty() || (s.queue.size() < kBatchBytes && s.queue.size() + n >= kBatchBytes);
  s.queue.append(data, n);
  if (wake) s.more.notify_one();
}

}  // namespace

void log_enqueue(const char* data, size_t n) {
  LogState& s = state();
  std::unique_lock<std::mutex> lk(s.mu);
  enqueue_locked(s, lk, data, n);
}

void log_write_now(const char* data, size_t n) {
  LogState& s = state();
  std::unique_lock<std::mutex> lk(s.mu);
  if (!s.queue.empty() || s.writing || s.dropped > 0) {
    enqueue_locked(s, lk, data, n);
    return;
  }
  s.writing = true;
  lk.unlock();
  // To the master without waiting (it may be busy): what it cannot take yet is queued.
  size_t done = output(s, data, n, s.dgram_fd < 0);
  lk.lock();
  s.writing = false;
  if (done < n) enqueue_locked(s, lk, data + done, n - done);
  s.drained.notify_all();
}

void log_flush(int timeout_ms) {
  LogState& s = state();
  std::unique_lock<std::mutex> lk(s.mu);
  if (!s.thread_started) return;
  s.flushing = true;
  s.more.notify_one();
  s.drained.wait_for(lk, std::chrono::milliseconds(timeout_ms),
                     [&] { return s.queue.empty() && !s.writing && s.dropped == 0; });
  s.flushing = false;
}

void set_log_buffer_limit(size_t bytes) {
  LogState& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  s.limit = bytes;
}

void set_log_datagram_target(int fd, size_t max_dgram) {
  LogState& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  s.dgram_fd = fd;
  s.max_dgram = max_dgram < 2 ? 2 : max_dgram;
}

void set_log_before_write(void (*fn)()) {
  LogState& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  s.before_write = fn;
}

uint64_t log_dropped_total() {
  LogState& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  return s.dropped_total;
}

}  // namespace uwsgi
