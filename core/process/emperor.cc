// The Emperor's loop: scan, spawn, tell, reap, respawn (emperor.h).
#include "process/emperor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "log/log.h"
#include "process/emperor_link.h"
#include "process/procname.h"
#include "process/scoreboard.h"
#include "process/sd_notify.h"
#include "process/stats.h"
#include "process/supervised_process.h"
#include "version.h"

extern char** environ;

namespace uwsgi {

namespace {

volatile sig_atomic_t g_stop = 0, g_reload_all = 0, g_term = 0;
int g_wake[2] = {-1, -1};

void emperor_signal(int sig) {
  int saved = errno;
  if (sig == SIGINT || sig == SIGQUIT) g_stop = 1;
  else if (sig == SIGHUP) g_reload_all = 1;
  else if (sig == SIGTERM) g_term = 1;
  char c = 1;
  ssize_t r = ::write(g_wake[1], &c, 1);
  (void)r;
  errno = saved;
}

// One vassal: its file, its process (a SupervisedProcess: fork, back-off) and what it told us.
struct Vassal {
  std::string id;
  VassalFile file;
  SupervisedProcess proc;
  int fd = -1;              // the Emperor's end of the vassal's socket (while it runs)
  bool removed = false;     // its file is gone: it was told to stop and is not respawned
  uint64_t stop_deadline_ms = 0;  // then SIGKILL
  bool killed = false;
  bool ready = false, accepting = false, loyal = false;
  uint64_t first_run = 0, last_ready = 0, last_accepting = 0, last_loyal = 0;  // unix time
};

uint64_t unix_now() { return (uint64_t)time(nullptr); }

class Emperor {
 public:
  explicit Emperor(const EmperorSettings& s) : s_(s) {}

  int run() {
    if (pipe2(g_wake, O_NONBLOCK | O_CLOEXEC) != 0) {
      log_line("emperor: pipe: %s", strerror(errno));
      return 1;
    }
    add_master_only_fd(g_wake[0]);
    add_master_only_fd(g_wake[1]);
    struct sigaction sa {};
    sa.sa_handler = emperor_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (int sig : {SIGINT, SIGQUIT, SIGHUP, SIGTERM, SIGCHLD}) sigaction(sig, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
    if (!s_.procname.empty()) set_procname_exact(s_.procname);
    if (!s_.pidfile.empty() && !write_pidfile()) return 1;
    if (!s_.stats.empty()) {
      std::string err;
      if (!stats_.open(s_.stats, false, &err)) {
        log_line("cannot bind the Emperor stats server on %s: %s", s_.stats.c_str(), err.c_str());
        return 1;
      }
      log_line("*** Emperor stats server enabled on %s fd %d ***", s_.stats.c_str(), stats_.fd());
    }
    std::string monitors;
    for (auto& m : s_.monitors) monitors += (monitors.empty() ? "" : ", ") + m;
    log_line("*** starting uWSGI Emperor (pid %d) on %s ***", (int)getpid(), monitors.c_str());
    scan(now_ms());
    sd_notify("READY=1\n" + status_line());
    for (;;) {
      std::vector<pollfd> pfds;
      pfds.push_back({g_wake[0], POLLIN, 0});
      if (stats_.fd() >= 0) pfds.push_back({stats_.fd(), POLLIN, 0});
      for (auto& [id, v] : vassals_)
        if (v.fd >= 0) pfds.push_back({v.fd, POLLIN, 0});
      poll(pfds.data(), pfds.size(), (int)std::min<uint64_t>(timeout_ms(now_ms()), 1000));
      char buf[64];
      while (::read(g_wake[0], buf, sizeof buf) > 0) {
      }
      if (stats_.fd() >= 0) stats_.serve([this] { return stats_json(); });
      for (auto& [id, v] : vassals_) read_messages(v);
      reap();
      uint64_t now = now_ms();
      if (g_term) {
        g_term = 0;
        if (s_.die_on_term) g_stop = 1;
        else g_reload_all = 1;
      }
      if (g_stop && !stopping_) begin_stop(now);
      if (stopping_) {
        kill_overdue(now);
        if (vassals_.empty()) break;
        continue;
      }
      if (g_reload_all) {
        g_reload_all = 0;
        log_line("[emperor] reloading every vassal");
        for (auto& [id, v] : vassals_)
          if (v.proc.pid > 0 && !v.removed) tell(v, emperor_msg::kReload);
      }
      if (now >= next_scan_ms_) scan(now);
      for (auto& [id, v] : vassals_)
        if (!v.removed && v.proc.due(now)) spawn(v, now);
      kill_overdue(now);
      notify_count();
    }
    log_line("[emperor] every vassal stopped");
    if (!s_.pidfile.empty()) unlink(s_.pidfile.c_str());
    log_line("The Emperor is buried.");
    return 0;
  }

 private:
  uint64_t now_ms() const { return monotonic_ms(); }

  uint64_t timeout_ms(uint64_t now) const {
    uint64_t t = next_scan_ms_ > now ? next_scan_ms_ - now : 0;
    for (auto& [id, v] : vassals_)
      if (v.proc.pid == 0 && !v.removed) t = std::min(t, v.proc.respawn_at_ms > now ? v.proc.respawn_at_ms - now : 0);
    return t;
  }

  bool write_pidfile() {
    FILE* f = fopen(s_.pidfile.c_str(), "w");
    if (!f) {
      log_line("cannot write --emperor-pidfile %s: %s", s_.pidfile.c_str(), strerror(errno));
      return false;
    }
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
    return true;
  }

  std::string status_line() const {
    int n = 0;
    for (auto& [id, v] : vassals_)
      if (!v.removed) n++;
    return "STATUS=The Emperor is governing " + std::to_string(n) + " vassals";
  }

  void notify_count() {
    std::string st = status_line();
    if (st == last_status_) return;
    last_status_ = st;
    sd_notify(st);
  }

  // New files start, changed ones reload, gone ones stop.
  void scan(uint64_t now) {
    next_scan_ms_ = now + (uint64_t)s_.freq_s * 1000;
    std::map<std::string, VassalFile> found = scan_vassals(s_);
    for (auto& [id, f] : found) {
      auto it = vassals_.find(id);
      if (it == vassals_.end()) {
        Vassal& v = vassals_[id];
        v.id = id;
        v.file = f;
        configure(v);
        spawn(v, now);
        continue;
      }
      Vassal& v = it->second;
      if (v.removed) continue;  // stopping: a file of the same name comes back after it is gone
      if (f.mtime_ns == v.file.mtime_ns && f.path == v.file.path) continue;
      v.file = f;
      if (v.proc.pid > 0) {
        log_line("[emperor] reload the uwsgi instance %s", id.c_str());
        tell(v, emperor_msg::kReload);
      } else {
        v.proc.backoff.reset();  // waiting out a back-off: a fixed file deserves a try now
        v.proc.respawn_at_ms = now;
      }
    }
    for (auto& [id, v] : vassals_) {
      if (v.removed || found.count(id)) continue;
      v.removed = true;
      if (v.proc.pid > 0) {
        log_line("[emperor] stop the uwsgi instance %s", id.c_str());
        tell(v, emperor_msg::kStop);
        v.stop_deadline_ms = now + (uint64_t)s_.mercy_s * 1000;
      }
    }
    // A removed vassal that is not running has nothing left to wait for.
    for (auto it = vassals_.begin(); it != vassals_.end();) {
      if (it->second.removed && it->second.proc.pid == 0) {
        log_line("[emperor] removed uwsgi instance %s", it->first.c_str());
        it = vassals_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void configure(Vassal& v) {
    v.proc.kind = ProcessKind::kVassal;
    v.proc.name = "vassal " + v.id;
    v.proc.stop_signal = SIGINT;
    // A death before its first request counts as young however long it took to get there.
    v.proc.backoff.set_policy({UINT64_MAX, s_.throttle_ms, s_.max_throttle_ms});
    v.proc.setup.pdeath_signal = SIGINT;  // never outlives the Emperor
    v.proc.setup.log_to_master = false;
    v.proc.setup.ignore_sigpipe = false;  // it execs: an ignored SIGPIPE would be inherited
  }

  void spawn(Vassal& v, uint64_t now) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      log_line("[emperor] socketpair for %s: %s: retrying in 1 s", v.id.c_str(), strerror(errno));
      v.proc.respawn_at_ms = now + 1000;
      return;
    }
    const EmperorSettings& s = s_;
    const VassalFile file = v.file;
    int child_fd = sv[1];
    v.proc.start = [&s, file, child_fd]() { return exec_vassal(s, file, child_fd); };
    bool ok = v.proc.spawn(now);
    close(sv[1]);
    if (!ok) {
      close(sv[0]);
      return;
    }
    v.fd = sv[0];
    fcntl(v.fd, F_SETFL, O_NONBLOCK);
    v.ready = v.accepting = v.loyal = false;
    if (v.first_run == 0) v.first_run = unix_now();
    log_line("[emperor] vassal %s (pid %d) spawned", v.id.c_str(), (int)v.proc.pid);
  }

  // In the child: the vassal's environment and directory, then this binary on its file.
  static int exec_vassal(const EmperorSettings& s, const VassalFile& f, int fd) {
    // Its own fd survives the exec (every other Emperor fd is close-on-exec).
    fcntl(fd, F_SETFD, 0);
    unsetenv("NOTIFY_SOCKET");  // systemd talks to the Emperor only
    // The Emperor's own UWSGI_EMPEROR* options must not make the vassal an Emperor too;
    // UWSGI_VASSAL_X=v becomes the vassal's UWSGI_X=v.
    std::vector<std::string> drop, add;
    for (char** e = environ; e && *e; e++) {
      std::string kv = *e;
      std::string name = kv.substr(0, kv.find('='));
      if (name.rfind("UWSGI_EMPEROR", 0) == 0) drop.push_back(name);
      else if (name.rfind("UWSGI_VASSAL_", 0) == 0 && kv.size() > name.size()) add.push_back("UWSGI_" + kv.substr(13));
    }
    for (auto& n : drop) unsetenv(n.c_str());
    for (auto& kv : add) {
      size_t eq = kv.find('=');
      setenv(kv.substr(0, eq).c_str(), kv.substr(eq + 1).c_str(), 1);
    }
    setenv("UWSGI_EMPEROR_FD", std::to_string(fd).c_str(), 1);
    std::string dir = f.path.find('/') == std::string::npos ? "." : f.path.substr(0, f.path.rfind('/'));
    if (dir.empty()) dir = "/";
    // As uWSGI: the vassal runs in its file's directory (relative paths in it mean that).
    char cwd[4096];
    std::string path = f.path;
    if (path[0] != '/' && getcwd(cwd, sizeof cwd)) path = std::string(cwd) + "/" + path;
    if (chdir(dir.c_str()) != 0) {
      log_line("[emperor] cannot chdir to %s: %s", dir.c_str(), strerror(errno));
      return 1;
    }
    std::vector<std::string> args{s.self_argv0};
    for (auto& t : s.inherit) args.insert(args.end(), {"--inherit", t});
    args.insert(args.end(), {"--" + vassal_config_option(path, s.extra_ext), path});
    for (auto& t : s.include) args.insert(args.end(), {"--inherit", t});
    for (auto& kv : s.set) args.push_back("--" + kv);
    std::vector<char*> av;
    for (auto& a : args) av.push_back(const_cast<char*>(a.c_str()));
    av.push_back(nullptr);
    execv("/proc/self/exe", av.data());
    log_line("[emperor] cannot run the vassal %s: execv: %s", path.c_str(), strerror(errno));
    return 127;
  }

  void tell(Vassal& v, uint8_t msg) {
    if (v.fd < 0 || ::send(v.fd, &msg, 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1) {
      // No link (it closed its end): a signal says the same.
      v.proc.signal(msg == emperor_msg::kStop ? SIGINT : SIGHUP);
    }
  }

  void read_messages(Vassal& v) {
    if (v.fd < 0) return;
    uint8_t buf[64];
    for (;;) {
      ssize_t n = ::read(v.fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) {  // its master exited (the reaper says how)
        close(v.fd);
        v.fd = -1;
        return;
      }
      if (n < 0) return;
      for (ssize_t i = 0; i < n; i++) {
        switch (buf[i]) {
          case emperor_msg::kSpawned:
            v.ready = true;
            v.last_ready = unix_now();
            break;
          case emperor_msg::kAccepting:
            v.accepting = true;
            v.last_accepting = unix_now();
            log_line("[emperor] vassal %s is ready to accept requests", v.id.c_str());
            break;
          case emperor_msg::kLoyal:
            if (!v.loyal) log_line("[emperor] vassal %s is now loyal", v.id.c_str());
            v.loyal = true;
            v.last_loyal = unix_now();
            break;
          default: break;  // heartbeats, broodlord, config chunks: not implemented
        }
      }
    }
  }

  void reap() {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      for (auto it = vassals_.begin(); it != vassals_.end(); ++it) {
        Vassal& v = it->second;
        if (v.proc.pid != pid) continue;
        if (v.fd >= 0) close(v.fd);
        v.fd = -1;
        if (v.removed || stopping_) {
          v.proc.pid = 0;
          log_line("[emperor] removed uwsgi instance %s", v.id.c_str());
          vassals_.erase(it);
          break;
        }
        uint64_t delay = v.proc.exited(now_ms(), !v.loyal);
        std::string how = WIFSIGNALED(status) ? std::string("killed by signal ") + std::to_string(WTERMSIG(status))
                                              : "exited with status " + std::to_string(WEXITSTATUS(status));
        if (delay)
          log_line("[emperor] vassal %s (pid %d) %s before its first request: respawning it in %llu ms (throttle)",
                   v.id.c_str(), (int)pid, how.c_str(), (unsigned long long)delay);
        else
          log_line("[emperor] vassal %s (pid %d) %s: respawning it", v.id.c_str(), (int)pid, how.c_str());
        break;
      }
    }
  }

  void begin_stop(uint64_t now) {
    stopping_ = true;
    sd_notify("STOPPING=1\nSTATUS=The Emperor is stopping its vassals");
    log_line("[emperor] stopping %zu vassal(s)", vassals_.size());
    for (auto it = vassals_.begin(); it != vassals_.end();) {
      Vassal& v = it->second;
      if (v.proc.pid == 0) {
        it = vassals_.erase(it);
        continue;
      }
      tell(v, emperor_msg::kStop);
      if (!v.removed) v.stop_deadline_ms = now + (uint64_t)s_.mercy_s * 1000;
      v.removed = true;
      ++it;
    }
  }

  void kill_overdue(uint64_t now) {
    for (auto& [id, v] : vassals_) {
      if (!v.removed || v.proc.pid <= 0 || v.killed || now < v.stop_deadline_ms) continue;
      log_line("[emperor] vassal %s (pid %d) still running %d s after it was told to stop: killing it", id.c_str(),
               (int)v.proc.pid, s_.mercy_s);
      // Its workers follow it (they die with their master).
      v.proc.signal(SIGKILL);
      v.killed = true;
    }
  }

  // uWSGI's Emperor stats layout (the keys its tools read).
  std::string stats_json() const {
    using nlohmann::json;
    json doc;
    doc["version"] = UWSGI_SERVER_VERSION;
    doc["pid"] = (int)getpid();
    doc["uid"] = (int)getuid();
    doc["gid"] = (int)getgid();
    char cwd[4096];
    doc["cwd"] = getcwd(cwd, sizeof cwd) ? cwd : "";
    doc["emperor"] = s_.monitors;
    doc["emperor_tyrant"] = 0;
    doc["throttle_level"] = 0;
    json vassals = json::array();
    for (auto& [id, v] : vassals_) {
      vassals.push_back({{"id", id},
                         {"pid", (int)v.proc.pid},
                         {"born", v.proc.last_spawn},
                         {"last_mod", (uint64_t)(v.file.mtime_ns / 1000000000)},
                         {"last_heartbeat", 0},
                         {"loyal", v.loyal ? 1 : 0},
                         {"ready", v.ready ? 1 : 0},
                         {"accepting", v.accepting ? 1 : 0},
                         {"last_loyal", v.last_loyal},
                         {"last_ready", v.last_ready},
                         {"last_accepting", v.last_accepting},
                         {"first_run", v.first_run},
                         {"last_run", v.proc.last_spawn},
                         {"cursed", v.removed ? 1 : 0},
                         {"zerg", 0},
                         {"on_demand", ""},
                         {"uid", (int)getuid()},
                         {"gid", (int)getgid()},
                         {"monitor", v.file.monitor},
                         {"respawns", v.proc.respawns}});
    }
    doc["vassals"] = vassals;
    doc["blacklist"] = json::array();
    return doc.dump(1, '\t');
  }

  const EmperorSettings& s_;
  std::map<std::string, Vassal> vassals_;
  uint64_t next_scan_ms_ = 0;
  bool stopping_ = false;
  std::string last_status_;
  StatsServer stats_;
};

}  // namespace

int run_emperor(const EmperorSettings& s) { return Emperor(s).run(); }

}  // namespace uwsgi
