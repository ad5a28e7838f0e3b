#include "log/log_master.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "config/options.h"
#include "config/values.h"
#include "host.h"
#include "log/log.h"
#include "log/log_buffer.h"
#include "log/loggers.h"

namespace uwsgi {

static bool g_enabled = false;
static size_t g_max_dgram = 65536;
static int g_pair[2] = {-1, -1};  // [0]: the master reads; [1]: the workers write

void register_log_output_options(HostImpl& host) {
  const OptArg R = OptArg::Required, N = OptArg::None;
  host.add_option(make_option("log-master", 0, N,
                              "workers hand their log lines to the master, which writes them (no interleaving)"));
  host.add_option(make_option("log-master-bufsize", 0, R,
                              "largest log message handed to the master, in bytes (longer ones are cut)", {}, true));
  host.add_option(make_option("log-master-stream", 0, N,
                              "accepted for compatibility: the master's log channel keeps lines whole anyway"));
  host.add_option(make_option("log-master-req-stream", 0, N,
                              "accepted for compatibility: the master's log channel keeps lines whole anyway"));
  host.add_option(make_option("threaded-logger", 0, N,
                              "accepted for compatibility: a thread of each process always writes its log"));
  host.add_option(make_option("log-buffer-size", 0, R,
                              "bytes of log lines a process keeps for a slow log destination before dropping",
                              {}, true));
}

bool read_log_master(const Config& cfg, std::string* err) {
  long long bufsize = 0, keep = 0;
  if (!get_bounded(cfg, "log-master-bufsize", 65536, 128, 64 << 20, &bufsize, err) ||
      !get_bounded(cfg, "log-buffer-size", 1 << 20, 4096, 1LL << 32, &keep, err))
    return false;
  g_max_dgram = (size_t)bufsize;
  set_log_buffer_limit((size_t)keep);
  g_enabled = cfg.get_bool("log-master");
  return true;
}

// Takes the workers' datagrams and queues them for this process's log writer.
static void receive_loop(int fd) {
  std::vector<char> buf(g_max_dgram);
  for (;;) {
    ssize_t r = recv(fd, buf.data(), buf.size(), 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return;
    if (r > 0 && !loggers_take_server_lines(buf.data(), (size_t)r)) log_enqueue(buf.data(), (size_t)r);
  }
}

bool log_master_start(std::string* err) {
  if (!g_enabled) return true;
  if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, g_pair) != 0) {
    *err = std::string("--log-master: socketpair: ") + strerror(errno);
    return false;
  }
  // A datagram may be as big as the sender's buffer allows; the receiver's holds a burst.
  int snd = (int)std::max<size_t>(4 * g_max_dgram, 256 * 1024), rcv = 4 << 20;
  if (setsockopt(g_pair[1], SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof snd) != 0)
    setsockopt(g_pair[1], SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
  if (setsockopt(g_pair[0], SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) != 0)
    setsockopt(g_pair[0], SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);  // the master's handlers stay on its main thread
  try {
    std::thread(receive_loop, g_pair[0]).detach();
  } catch (const std::system_error& e) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    *err = std::string("--log-master: cannot start the log thread: ") + e.what();
    return false;
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return true;
}

void log_master_child() {
  if (g_pair[1] < 0) return;
  close(g_pair[0]);
  // What the app prints goes the same way (as in uWSGI); fd 2 is the log_fd() the writer uses.
  dup2(g_pair[1], 2);
  dup2(g_pair[1], 1);
  close(g_pair[1]);
  g_pair[0] = g_pair[1] = -1;
  set_log_datagram_target(2, g_max_dgram);
  loggers_leave_server_lines_to_master();
}

void log_master_drain() {
  if (g_pair[0] < 0) return;
  // The receiving thread takes what is queued in the socket; then the writer writes it.
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  int pending = 0;
  while (ioctl(g_pair[0], FIONREAD, &pending) == 0 && pending > 0 && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(2));  // the last one it took is queued
  log_flush();
}

}  // namespace uwsgi
