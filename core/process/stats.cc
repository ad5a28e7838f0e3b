#include "process/stats.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "log/log.h"
#include "process/mules.h"
#include "process/scoreboard.h"
#include "process/spooler.h"
#include "shared/shared_state.h"
#include "version.h"

namespace uwsgi {

using nlohmann::json;

void listen_queue(const Listener& l, long* queue, long* max) {
  *queue = 0;
  *max = 0;
  if (!l.unix_path.empty()) return;
  tcp_info ti{};
  socklen_t n = sizeof ti;
  if (getsockopt(l.fd, IPPROTO_TCP, TCP_INFO, &ti, &n) == 0) {
    *queue = ti.tcpi_unacked;
    *max = ti.tcpi_sacked;
  }
}

static void mem_of(int pid, long long* rss, long long* vsz) {
  *rss = *vsz = 0;
  if (pid <= 0) return;
  std::ifstream f("/proc/" + std::to_string(pid) + "/statm");
  long long size = 0, res = 0;
  if (f >> size >> res) {
    long page = sysconf(_SC_PAGESIZE);
    *vsz = size * page;
    *rss = res * page;
  }
}

std::string stats_json(const StatsFacts& f, const StatsFormat& fmt) {
  Scoreboard& sb = scoreboard();
  json doc;
  doc["version"] = UWSGI_SERVER_VERSION;
  long total_queue = 0, max_queue = 0;
  json sockets = json::array();
  if (f.listeners)
    for (auto& l : *f.listeners) {
      long q, m;
      listen_queue(l, &q, &m);
      total_queue += q;
      if (m > max_queue) max_queue = m;
      sockets.push_back({{"name", l.spec},
                         {"proto", l.proto == Protocol::kHttp ? "http" : "uwsgi"},
                         {"queue", q},
                         {"max_queue", m},
                         {"shared", 0},
                         {"can_offload", 0}});
    }
  doc["listen_queue"] = total_queue;
  doc["listen_queue_errors"] = 0;
  doc["signal_queue"] = 0;
  doc["load"] = total_queue;
  doc["pid"] = (int)getpid();
  doc["uid"] = (int)getuid();
  doc["gid"] = (int)getgid();
  char cwd[4096];
  doc["cwd"] = getcwd(cwd, sizeof cwd) ? cwd : "";
  json workers = json::array();
  for (int id = 1; sb.ready() && id <= f.nworkers; id++) {
    WorkerBoard& w = sb.worker(id);
    int pid = w.pid.load();
    uint64_t req = w.requests.load();
    uint64_t delta = req - w.delta_base.exchange(req);
    uint64_t rt = w.running_time_us.load();
    long long rss, vsz;
    mem_of(pid, &rss, &vsz);
    json cores = json::array();
    for (int c = 0; fmt.cores && c < f.ncores; c++) {
      CoreBoard& cb = sb.core(id, c);
      cores.push_back({{"id", c},
                       {"requests", cb.requests.load()},
                       {"static_requests", 0},
                       {"routed_requests", 0},
                       {"offloaded_requests", 0},
                       {"write_errors", 0},
                       {"read_errors", 0},
                       {"in_request", cb.busy.load() ? 1 : 0},
                       {"vars", json::array()},
                       {"req_info", json::object()}});
    }
    // "cheap": stopped (or being stopped) by --cheaper, or between two processes.
    bool cheaped = w.cheaped.load() != 0;
    const char* status = pid <= 0 || cheaped ? "cheap" : w.busy_cores.load() > 0 ? "busy" : "idle";
    workers.push_back({{"id", id},
                       {"pid", pid},
                       {"accepting", pid > 0 && f.running && !cheaped ? 1 : 0},
                       {"cheaped", cheaped ? 1 : 0},
                       {"requests", req},
                       {"delta_requests", delta},
                       {"exceptions", w.exceptions.load()},
                       {"harakiri_count", w.harakiri_count.load()},
                       {"signals", w.signals.load()},
                       {"signal_queue", 0},
                       {"status", status},
                       {"rss", rss},
                       {"vsz", vsz},
                       {"running_time", rt},
                       {"last_spawn", w.last_spawn.load()},
                       {"respawn_count", w.respawn_count.load()},
                       {"tx", w.tx.load()},
                       {"avg_rt", req ? rt / req : 0},
                       {"apps", json::array()}});
    if (fmt.cores) workers.back()["cores"] = std::move(cores);
  }
  doc["workers"] = workers;
  if (!f.daemons.empty()) {
    json daemons = json::array();
    for (auto& d : f.daemons)
      daemons.push_back({{"cmd", d.cmd}, {"pid", d.pid}, {"respawns", d.respawns}, {"class", d.kind},
                         {"control", d.control ? 1 : 0}, {"throttle", d.throttle}, {"last_spawn", d.last_spawn}});
    doc["daemons"] = daemons;
  }
  // The other processes the master runs (supervised_process.h), with the workers' keys.
  if (!f.supervised.empty()) {
    json sup = json::array();
    for (auto& p : f.supervised)
      sup.push_back({{"kind", p.kind}, {"id", p.id}, {"name", p.name}, {"pid", p.pid},
                     {"respawn_count", p.respawn_count}, {"last_spawn", p.last_spawn}});
    doc["supervised"] = sup;
  }
  json caches = json::array();
  for (auto& c : caches_stats())
    caches.push_back({{"name", c.name}, {"hash", "djb33x"}, {"hashsize", c.hashsize}, {"keysize", c.keysize},
                      {"max_items", c.max_items}, {"blocks", c.max_items}, {"blocksize", c.blocksize},
                      {"items", c.items}, {"hits", c.hits}, {"miss", c.miss}, {"full", c.full},
                      {"last_modified_at", c.last_modified_at}});
  if (!caches.empty()) doc["caches"] = caches;
  doc["sockets"] = sockets;
  json spoolers = json::array();
  for (auto& s : spoolers_stats())
    spoolers.push_back({{"dir", s.dir}, {"pid", s.pids.empty() ? 0 : s.pids[0]}, {"pids", s.pids},
                        {"tasks", s.tasks}, {"respawns", s.respawns}, {"running", s.running},
                        {"queued", s.queued}});
  if (!spoolers.empty()) doc["spoolers"] = spoolers;
  json mules = json::array();
  for (auto& m : mules_stats()) {
    long long rss, vsz;
    mem_of(m.pid, &rss, &vsz);
    mules.push_back({{"id", m.id}, {"pid", m.pid}, {"signals", m.signals}, {"signal_queue", 0},
                     {"respawn_count", m.respawns}, {"last_spawn", m.last_spawn}, {"rss", rss}, {"vsz", vsz},
                     {"farms", m.farms}});
  }
  if (!mules.empty()) doc["mules"] = mules;
  return fmt.minified ? doc.dump() : doc.dump(1, '\t');
}

StatsServer::~StatsServer() {
  if (fd_ >= 0) ::close(fd_);
  if (!unix_path_.empty()) unlink(unix_path_.c_str());
}

bool StatsServer::open(const std::string& spec, bool http, std::string* err) {
  Listener l;
  ListenOptions lo;
  lo.backlog = 64;
  if (!bind_listener(spec, Protocol::kHttp, lo, &l, err)) return false;
  fd_ = l.fd;
  // Stats clients (uwsgitop, nc) connect and only read: no deferred accept here.
  int zero = 0;
  setsockopt(fd_, IPPROTO_TCP, TCP_DEFER_ACCEPT, &zero, sizeof zero);
  fcntl(fd_, F_SETFD, FD_CLOEXEC);
  http_ = http;
  unix_path_ = l.unix_path;
  return true;
}

static bool write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      if (poll(&p, 1, 1000) <= 0) return false;  // a client that does not read gets dropped
      continue;
    }
    if (n <= 0) return false;
    off += n;
  }
  return true;
}

// An HTTP client sends a request first: read its head (briefly) so closing does not reset the
// connection before it reads the answer.
static void read_http_head(int fd) {
  std::string head;
  char buf[2048];
  uint64_t deadline = monotonic_ms() + 1000;
  while (head.find("\r\n\r\n") == std::string::npos && head.find("\n\n") == std::string::npos &&
         head.size() < 16384) {
    uint64_t now = monotonic_ms();
    if (now >= deadline) return;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, (int)(deadline - now)) <= 0) return;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return;
    head.append(buf, n);
  }
}

void StatsServer::serve(const StatsFacts& f) {
  serve([&f, this] { return stats_json(f, fmt_); });
}

void StatsServer::serve(const std::function<std::string()>& make_body) {
  for (int i = 0; i < 16; i++) {
    int c = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) return;
    std::string body = make_body();
    std::string out;
    if (http_) {
      read_http_head(c);
      out = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
            "\r\nConnection: close\r\nAccess-Control-Allow-Origin: *\r\n\r\n" + body;
    } else {
      out = body;
    }
    write_all(c, out);
    shutdown(c, SHUT_WR);
    ::close(c);
  }
}

}  // namespace uwsgi
