#include "process/worker.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "log/log.h"
#include "loop/loops.h"
#include "process/scoreboard.h"
#include "process/signal_framework.h"
#include "process/status_report.h"
#include "process/recycle.h"
#include "static/offload.h"

namespace uwsgi {

static volatile sig_atomic_t g_stop = 0;
static int g_sig_pipe[2] = {-1, -1};
static int g_worker_id = 0;         // for the SIGUSR1/SIGUSR2 reports
static int g_own_mercy_s = -1;      // >= 0 without a master: the worker enforces --reload-mercy itself
static volatile sig_atomic_t g_mercy_armed = 0;

static void on_mercy_expired(int);

static void on_stop_signal(int) {
  int saved = errno;
  g_stop = 1;
  if (g_sig_pipe[1] >= 0) {
    char c = 's';
    ssize_t r = ::write(g_sig_pipe[1], &c, 1);
    (void)r;
  }
  // Without a master nobody else bounds the drain: arm the mercy once, and say what it waits for.
  if (g_own_mercy_s >= 0 && !g_mercy_armed) {
    g_mercy_armed = 1;
    if (report_in_flight(g_worker_id, "stopping: waiting (up to --reload-mercy) for ") > 0 && g_own_mercy_s == 0)
      on_mercy_expired(0);
    // SIGALRM is taken only now: until a stop, the app may use alarm() as it likes.
    struct sigaction sa {};
    sa.sa_handler = on_mercy_expired;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, nullptr);
    if (g_own_mercy_s > 0) alarm((unsigned)g_own_mercy_s);
  }
  errno = saved;
}

static std::vector<std::string> g_exit_unlinks;  // set before the worker serves; only read after

static void on_mercy_expired(int) {
  static const char msg[] = "requests still running after the --reload-mercy: exiting without them\n";
  ssize_t r = ::write(log_fd(), msg, sizeof msg - 1);
  (void)r;
  report_in_flight(g_worker_id, "abandoned: ");
  for (auto& p : g_exit_unlinks) unlink(p.c_str());  // async-signal-safe: the strings exist already
  _exit(0);  // the stop that was asked for (as the master's shutdown after its mercy)
}

// SIGUSR1 / SIGUSR2: report (from the handler itself, see status_report.h) and carry on.
static void on_report_signal(int sig) {
  int saved = errno;
  if (sig == SIGUSR1) report_stats(g_worker_id);
  else report_cores(g_worker_id);
  errno = saved;
}

void worker_set_own_mercy(int seconds) { g_own_mercy_s = seconds; }

void worker_set_exit_unlinks(const std::vector<std::string>& paths) { g_exit_unlinks = paths; }

void worker_install_signals() {
  if (g_sig_pipe[0] < 0 && pipe2(g_sig_pipe, O_NONBLOCK | O_CLOEXEC) != 0) g_sig_pipe[0] = g_sig_pipe[1] = -1;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int s : {SIGINT, SIGQUIT, SIGTERM, SIGHUP}) sigaction(s, &sa, nullptr);
  sa.sa_handler = on_report_signal;
  for (int s : {SIGUSR1, SIGUSR2}) sigaction(s, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

static void request_stop_cb() { on_stop_signal(0); }

bool choose_engines(HostImpl& host, EngineChoice* out, std::string* err) {
  const Config& c = host.config();
  long long async_cores = c.get_int("async", 0);
  if (async_cores < 0 || async_cores > 65536) {
    *err = "--async must be between 0 and 65536";
    return false;
  }
  out->cores = (int)async_cores;
  out->loop = c.get("loop-engine");
  out->suspend = c.get("suspend-engine");
  out->io = c.get("io-engine", "epoll");
  auto suspend_names = c.all("suspend-engine");
  for (auto& n : suspend_names)
    if (n != suspend_names.front()) {
      *err = "two suspend engines were chosen (" + suspend_names.front() + " and " + n + "): pick one";
      return false;
    }
  if (!host.io_engines().count(out->io)) {
    *err = "unknown I/O engine \"" + out->io + "\"";
    if (out->io == "libev" || out->io == "libuv") *err += " (load it with --plugins " + out->io + ")";
    return false;
  }
  if (!out->suspend.empty() && !host.suspend_engines().count(out->suspend)) {
    *err = "unknown suspend engine \"" + out->suspend + "\" (load its plugin with --plugins " + out->suspend + ")";
    return false;
  }
  if (!out->loop.empty()) {
    if (out->loop != "sync" && out->loop != "async" && !host.loop_engines().count(out->loop)) {
      *err = "unknown loop engine \"" + out->loop + "\" (load its plugin with --plugins " + out->loop + ")";
      return false;
    }
  } else if (out->cores > 0) {
    out->loop = "async";
  } else {
    out->loop = "sync";
  }
  // A suspend engine serves only async cores: without them it would be silently unused.
  if (!out->suspend.empty() && out->loop != "async") {
    *err = "--suspend-engine " + out->suspend + " (--" + out->suspend + ") needs async cores, but ";
    if (out->loop != "sync") *err += "the " + out->loop + " loop engine does not use it";
    else if (c.has("async")) *err += "--async 0 turns async mode off: give --async N with N >= 1";
    else *err += "no --async N was given";
    return false;
  }
  if (out->loop == "async") {
    if (out->cores <= 0) out->cores = 1;
    if (out->suspend.empty()) {
      *err = "--async " + std::to_string(out->cores) +
             " needs a suspend engine: add --ugreen (--plugins ugreen), --fcontext or --greenlet";
      return false;
    }
  }
  long long threads = c.get_int("threads", 1);
  if (threads < 0 || threads > 4096) {
    *err = "--threads must be between 1 and 4096";
    return false;
  }
  if (threads > 1 && out->loop != "sync") {
    *err = "--threads cannot be combined with the " + out->loop + " loop engine";
    return false;
  }
  if (out->loop == "sync") out->cores = threads < 1 ? 1 : (int)threads;  // 0 means one, as in uWSGI
  return true;
}

WorkerImpl::WorkerImpl(HostImpl& host, int id, const std::vector<Listener>& listeners, const ServeSettings& s,
                       const EngineChoice& engines)
    : host_(host), id_(id), listeners_(listeners), settings_(s), engines_(engines) {
  for (auto& l : listeners_) {
    listen_fds_.push_back(l.fd);
    by_fd_[l.fd] = &l;
  }
  max_requests_ = host.config().get_int("max-requests", 0);
  reaper_ = host.config().get_bool("reaper");
  recycle_ = read_recycle_settings(host.config());
  started_ms_ = monotonic_ms();
  counters_.observer = this;
}

WorkerImpl::~WorkerImpl() {
  if (signal_ep_ >= 0) ::close(signal_ep_);
}

bool WorkerImpl::stopping() const { return g_stop != 0; }

// One fd for loop engines to watch: an epoll fd over the stop pipe (written by the signal
// handlers) and the uWSGI-signal channel from the master. Readable when either is.
int WorkerImpl::signal_fd() const { return signal_ep_ >= 0 ? signal_ep_ : g_sig_pipe[0]; }

void WorkerImpl::handle_signal_fd() {
  char buf[64];
  while (::read(g_sig_pipe[0], buf, sizeof buf) > 0) {
  }
  // A worker on its way out runs no more handlers, but still empties the channel: the fd is
  // level-triggered and would otherwise keep waking a draining loop.
  SignalFramework::get().worker_read_channel(g_stop != 0);
}

void WorkerImpl::request_start(int core_id, std::string_view uri) {
  scoreboard().request_start(id_, core_id, uri.data(), uri.size());
}

void WorkerImpl::request_end(int core_id, uint64_t duration_us, bool exception) {
  Scoreboard& sb = scoreboard();
  sb.request_end(id_, core_id, duration_us, exception);
  if (sb.ready()) sb.worker(id_).tx.store(counters_.bytes_out);
  memory_check_due_ = recycle_.rss_bytes || recycle_.as_bytes;  // by tick(), once the response is out
}

void WorkerImpl::tick() {
  if (reaper_)
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
  if (g_stop) return;
  const char* why = nullptr;
  ProcessMemory m;
  bool memory = false;
  if (max_requests_ > 0 && counters_.requests >= (uint64_t)max_requests_) {
    why = "max-requests";
  } else if (memory_check_due_.exchange(false)) {
    // --reload-on-rss / --reload-on-as: once after each request (tick() also runs between them).
    why = memory_recycle_reason(recycle_, &m);
    memory = why != nullptr;
  }
  if (!why) return;
  // --min-worker-lifetime (uWSGI's meaning): a worker younger than that is not recycled by these
  // yet; the next request after it is old enough does it.
  uint64_t lived = monotonic_ms() - started_ms_;
  if (lived < recycle_.min_lifetime_ms) {
    if (!young_said_)
      log_line("worker %d over --%s but only %llu ms old: recycled once older than --min-worker-lifetime %llu s", id_,
               why, (unsigned long long)lived, (unsigned long long)(recycle_.min_lifetime_ms / 1000));
    young_said_ = true;
    if (memory) memory_check_due_ = true;
    return;
  }
  if (memory)
    log_line("worker %d (rss %llu MB, address space %llu MB) over --%s: recycling", id_,
             (unsigned long long)(m.rss_bytes >> 20), (unsigned long long)(m.as_bytes >> 20), why);
  else
    log_line("worker %d reached --max-requests %lld: recycling", id_, max_requests_);
  on_stop_signal(0);
}

int WorkerImpl::accept_one(int listen_fd) {
  sockaddr_storage peer;
  socklen_t peer_len = sizeof peer;
  int fd = accept4(listen_fd, (sockaddr*)&peer, &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
      log_line("accept() on fd %d failed: %s", listen_fd, strerror(errno));
    return -1;
  }
  remember_peer(fd, (sockaddr*)&peer);
  return fd;  // TCP_NODELAY comes from the listening socket (see listener.cc)
}

bool WorkerImpl::serve_connection(int fd, int listen_fd, int core_id) {
  auto it = by_fd_.find(listen_fd);
  if (it == by_fd_.end()) {
    ::close(fd);
    return false;
  }
  if ((size_t)core_id >= conns_.size()) conns_.resize(core_id + 1);  // loop engines past async_cores()
  if (!conns_[core_id]) conns_[core_id] = std::make_unique<Connection>(settings_, host_, counters_);
  ServeResult r = conns_[core_id]->serve(fd, *it->second, core_id, should_close_);
  tick();  // also for connections that ended without keep-alive
  return r == ServeResult::kIdle;
}

void WorkerImpl::close_idle(const std::vector<int>& fds) {
  std::vector<pollfd> open;
  for (int fd : fds) {
    if (::shutdown(fd, SHUT_WR) == 0) open.push_back({fd, POLLIN, 0});
    else ::close(fd);
  }
  uint64_t deadline = monotonic_ms() + kStopLingerMs;
  char tmp[16384];
  while (!open.empty()) {
    uint64_t now = monotonic_ms();
    if (now >= deadline) break;
    int ready = ::poll(open.data(), open.size(), (int)(deadline - now));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    for (size_t i = 0; i < open.size();) {
      ssize_t r = open[i].revents ? ::recv(open[i].fd, tmp, sizeof tmp, MSG_DONTWAIT) : -1;
      if (open[i].revents && (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))) {
        ::close(open[i].fd);  // the client closed too (or is gone)
        open[i] = open.back();
        open.pop_back();
        continue;
      }
      if (r > 0)
        log_line("worker %d: a request came on an idle connection after its close began: dropped", id_);
      open[i].revents = 0;
      i++;
    }
  }
  for (auto& p : open) ::close(p.fd);
}

int WorkerImpl::run() {
  g_worker_id = id_;
  worker_install_signals();
  host_.set_stop_callback(request_stop_cb);
  SignalFramework& sf = SignalFramework::get();
  signal_ep_ = epoll_create1(EPOLL_CLOEXEC);
  if (signal_ep_ >= 0) {
    for (int fd : {g_sig_pipe[0], sf.channel_fd()}) {
      if (fd < 0) continue;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = fd;
      epoll_ctl(signal_ep_, EPOLL_CTL_ADD, fd, &ev);
    }
  }
  sf.set_worker(&host_, id_, [] { return g_stop != 0; });
  sf.set_worker_pump([this] { handle_signal_fd(); }, signal_fd());
  prctl(PR_SET_PDEATHSIG, SIGINT);  // a worker never outlives its master
  std::string err;
  std::unique_ptr<LoopEngine> loop;
  SuspendEngine* suspend_ptr = nullptr;
  if (engines_.loop == "sync") {
    loop = make_sync_loop(host_, engines_.cores);
  } else if (engines_.loop == "async") {
    auto suspend = host_.suspend_engines().at(engines_.suspend)(host_);
    auto io = host_.io_engines().at(engines_.io)(host_);
    if (!suspend || !io) {
      log_line("worker %d: cannot create the %s/%s engines", id_, engines_.suspend.c_str(), engines_.io.c_str());
      return 1;
    }
    suspend_ptr = suspend.get();
    loop = make_async_loop(host_, std::move(suspend), std::move(io), engines_.cores);
  } else {
    loop = host_.loop_engines().at(engines_.loop)(host_);
  }
  if (!loop) {
    log_line("worker %d: cannot create the %s loop engine", id_, engines_.loop.c_str());
    return 1;
  }
  host_.set_engines(loop.get(), suspend_ptr);
  if (!loop->init(*this, &err)) {
    log_line("worker %d: %s loop engine: %s", id_, loop->name(), err.c_str());
    return 1;
  }
  // One connection slot per core or thread, made now: the threads of --threads must not grow it.
  conns_.resize(std::max(1, loop->async_cores()));
  int rc = loop->run(*this);
  offload_drain();
  conns_.clear();
  host_.set_engines(nullptr, nullptr);
  return rc;
}

}  // namespace uwsgi
