#include "process/daemons.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "config/options.h"
#include "log/log.h"
#include "process/process_opts.h"
#include "process/scoreboard.h"

namespace uwsgi {

namespace {

constexpr const char* kKeptEnv = "UWSGI_KEPT_DAEMONS";  // pid=cmd lines, across a reload's exec

const char* const kLegion[] = {"legion-attach-daemon", "legion-smart-attach-daemon", "legion-smart-attach-daemon2"};

bool truthy(const std::string& v) {
  bool b = false;
  return parse_bool_value(v, &b) && b;
}

// "TERM", "SIGTERM", "sigterm" or "15".
bool parse_signal(const std::string& v, int* out) {
  char* end = nullptr;
  long n = strtol(v.c_str(), &end, 10);
  if (!v.empty() && *end == 0) {
    if (n < 1 || n > 64) return false;
    *out = (int)n;
    return true;
  }
  std::string up;
  for (char c : v) up += (char)toupper((unsigned char)c);
  if (up.rfind("SIG", 0) == 0) up = up.substr(3);
  static const std::pair<const char*, int> kNames[] = {
      {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL}, {"USR1", SIGUSR1},
      {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},
      {"WINCH", SIGWINCH}, {"ALRM", SIGALRM}, {"PIPE", SIGPIPE}};
  for (auto& [name, sig] : kNames)
    if (up == name) {
      *out = sig;
      return true;
    }
  return false;
}

// key=value,key=value; a comma inside a value is written "\,".
std::vector<std::pair<std::string, std::string>> split_kv(const std::string& s) {
  std::vector<std::pair<std::string, std::string>> out;
  std::string cur;
  auto flush = [&] {
    if (cur.empty()) return;
    size_t eq = cur.find('=');
    if (eq == std::string::npos) out.push_back({cur, ""});
    else out.push_back({cur.substr(0, eq), cur.substr(eq + 1)});
    cur.clear();
  };
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == ',') {
      cur += ',';
      i++;
    } else if (s[i] == ',') {
      flush();
    } else {
      cur += s[i];
    }
  }
  flush();
  return out;
}

bool parse_attach_daemon2(const std::string& value, DaemonSpec* d, std::string* err) {
  for (auto& [k, v] : split_kv(value)) {
    if (k == "cmd" || k == "command" || k == "exec") {
      d->cmd = v;
    } else if (k == "pidfile") {
      d->pidfile = v;
    } else if (k == "control") {
      d->control = truthy(v);
    } else if (k == "daemonize" || k == "daemon") {
      d->daemonize = truthy(v);
    } else if (k == "touch") {
      // uWSGI separates several files with ';'.
      size_t start = 0;
      for (;;) {
        size_t semi = v.find(';', start);
        std::string f = v.substr(start, semi == std::string::npos ? std::string::npos : semi - start);
        if (!f.empty()) d->touch.push_back(f);
        if (semi == std::string::npos) break;
        start = semi + 1;
      }
    } else if (k == "stopsignal" || k == "stop_signal") {
      if (!parse_signal(v, &d->stop_signal)) return *err = "bad stopsignal \"" + v + "\"", false;
    } else if (k == "reloadsignal" || k == "reload_signal") {
      if (!parse_signal(v, &d->reload_signal)) return *err = "bad reloadsignal \"" + v + "\"", false;
    } else if (k == "stdin") {
      d->honour_stdin = truthy(v);
    } else if (k == "uid") {
      if (!parse_id(v, true, &d->uid, err)) return false;
      d->has_uid = true;
    } else if (k == "gid") {
      if (!parse_id(v, false, &d->gid, err)) return false;
      d->has_gid = true;
    } else if (k == "chdir") {
      d->chdir = v;
    } else if (k == "freq" || k == "max_throttle") {
      long long x = 0;
      if (!parse_number_value(v, &x) || x < 0 || x > 86400) return *err = k + " wants seconds (0..86400)", false;
      (k == "freq" ? d->freq_s : d->max_throttle_s) = (int)x;
    } else if (k == "ns_pid" || k == "nspid" || k == "ns" || k == "notifypid") {
      return *err = "key \"" + k + "\" (namespaces) is not supported", false;
    } else {
      return *err = "unknown key \"" + k + "\" (cmd, pidfile, control, daemonize, touch, stopsignal, "
                    "reloadsignal, stdin, uid, gid, chdir, freq, max_throttle)", false;
    }
  }
  if (d->cmd.empty()) return *err = "no cmd= given", false;
  if (d->daemonize && d->pidfile.empty()) return *err = "daemonize needs a pidfile=", false;
  return true;
}

// "PIDFILE CMD" of the smart forms.
bool split_pidfile(const std::string& v, DaemonSpec* d, std::string* err) {
  size_t sp = v.find(' ');
  if (sp == std::string::npos || sp == 0 || v.find_first_not_of(' ', sp) == std::string::npos)
    return *err = "wants PIDFILE COMMAND", false;
  d->pidfile = v.substr(0, sp);
  d->cmd = v.substr(v.find_first_not_of(' ', sp));
  return true;
}

uint64_t ms_from_s(int s) { return (uint64_t)s * 1000; }

int64_t mtime_of(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return 0;
  return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

pid_t read_pidfile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[32] = {0};
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  long p = strtol(buf, nullptr, 10);
  return p > 0 ? (pid_t)p : 0;
}

bool pid_alive(pid_t p) { return p > 0 && (kill(p, 0) == 0 || errno == EPERM); }

std::string describe(int status) {
  if (WIFSIGNALED(status)) return std::string("killed by signal ") + std::to_string(WTERMSIG(status));
  return "exit status " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

void register_daemon_options(HostImpl& host) {
  using A = OptArg;
  host.add_option(make_option("attach-daemon", 0, A::Required,
                              "run this command (/bin/sh -c) beside the server: respawned when it dies, "
                              "stopped on reload and shutdown (repeatable)"));
  host.add_option(make_option("attach-control-daemon", 0, A::Required,
                              "as --attach-daemon, and its death stops the whole instance"));
  host.add_option(make_option("smart-attach-daemon", 0, A::Required,
                              "PIDFILE CMD: a daemon found by its pidfile: it keeps running across reloads"));
  host.add_option(make_option("smart-attach-daemon2", 0, A::Required,
                              "PIDFILE CMD: as --smart-attach-daemon, the master writes the pidfile itself"));
  host.add_option(make_option("attach-daemon2", 0, A::Required,
                              "a daemon as key=value,...: cmd, pidfile, control, daemonize, touch, stopsignal, "
                              "reloadsignal, stdin, uid, gid, chdir, freq, max_throttle"));
  host.add_option(make_option("daemons-honour-stdin", 0, OptArg::None,
                              "attached daemons keep the inherited stdin instead of /dev/null"));
  for (const char* l : kLegion)
    host.add_option(make_option(l, 0, A::Required, "rejected: there is no Legion subsystem"));
}

bool read_daemon_specs(const Config& cfg, std::vector<DaemonSpec>* out, std::string* err) {
  for (const char* l : kLegion)
    if (cfg.has(l)) {
      *err = std::string("--") + l + ": Legion is not supported (use --attach-daemon / --smart-attach-daemon)";
      return false;
    }
  bool honour = cfg.get_bool("daemons-honour-stdin");
  const char* const kinds[] = {"attach-daemon", "attach-control-daemon", "smart-attach-daemon",
                               "smart-attach-daemon2", "attach-daemon2"};
  for (const char* opt : kinds)
    for (auto& v : cfg.all(opt)) {
      DaemonSpec d;
      d.option = opt;
      d.honour_stdin = honour;
      std::string why;
      bool ok = true;
      std::string o = opt;
      if (o == "attach-daemon" || o == "attach-control-daemon") {
        d.cmd = v;
        d.control = o == "attach-control-daemon";
        if (v.find_first_not_of(' ') == std::string::npos) ok = false, why = "wants a command";
      } else if (o == "attach-daemon2") {
        ok = parse_attach_daemon2(v, &d, &why);
      } else {
        ok = split_pidfile(v, &d, &why);
        d.daemonize = o == "smart-attach-daemon2";
      }
      if (!ok) {
        *err = "--" + o + " " + v + ": " + why;
        return false;
      }
      out->push_back(d);
    }
  return true;
}

void Daemons::configure(std::vector<DaemonSpec> specs, int stop_mercy_s) {
  d_.clear();
  mercy_s_ = stop_mercy_s;
  for (auto& s : specs) {
    Daemon d;
    d.spec = std::move(s);
    for (auto& f : d.spec.touch) d.touch_mtimes.push_back(mtime_of(f));
    d_.push_back(std::move(d));
  }
}

void Daemons::start_all(uint64_t now_ms) {
  shutting_down_ = false;
  // Daemons the previous master image left running (reloadsignal ones): still our children.
  std::string kept = getenv(kKeptEnv) ? getenv(kKeptEnv) : "";
  unsetenv(kKeptEnv);
  for (auto& d : d_) {
    d.stopping = d.restart_after_stop = d.killed = false;
    if (d.pid > 0 || d.pending) continue;
    size_t pos = 0;
    bool adopted = false;
    while (!adopted && pos < kept.size()) {
      size_t nl = kept.find('\n', pos);
      std::string line = kept.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      pos = nl == std::string::npos ? kept.size() : nl + 1;
      size_t eq = line.find('=');
      if (eq == std::string::npos || line.substr(eq + 1) != d.spec.cmd) continue;
      pid_t p = (pid_t)atol(line.c_str());
      if (!pid_alive(p)) continue;
      d.pid = p;
      d.started_ms = now_ms;
      adopted = true;
      log_line("[uwsgi-daemons] daemon \"%s\" (pid %d) kept across the reload", d.spec.cmd.c_str(), (int)p);
    }
    if (adopted) continue;
    if (!d.spec.pidfile.empty()) {
      pid_t p = read_pidfile(d.spec.pidfile);
      if (pid_alive(p)) {
        d.smart_pid = p;
        d.started_ms = now_ms;
        log_line("[uwsgi-daemons] daemon \"%s\" already running (pid %d from %s)", d.spec.cmd.c_str(), (int)p,
                 d.spec.pidfile.c_str());
        continue;
      }
    }
    spawn(d, now_ms);
  }
}

void Daemons::spawn(Daemon& d, uint64_t now_ms) {
  d.pending = false;
  d.down = false;
  ChildSetup setup;
  setup.new_session = true;  // its own process group: a stop reaches what the shell started too
  // A plain daemon goes with the master (uWSGI: destroyed when the master dies).
  if (d.spec.pidfile.empty()) setup.pdeath_signal = d.spec.stop_signal;
  setup.log_to_master = false;   // its output goes to the server's log fd as it is
  setup.ignore_sigpipe = false;  // the command gets default dispositions
  pid_t pid = fork_supervised(setup);
  if (pid < 0) {
    log_line("[uwsgi-daemons] daemon \"%s\": fork: %s: retrying in 1 s", d.spec.cmd.c_str(), strerror(errno));
    d.pending = true;
    d.respawn_at_ms = now_ms + 1000;
    return;
  }
  if (pid == 0) {
    // Nothing of the server's leaks into it: a daemon holding a listening socket would keep the
    // port bound after the server is gone.
    close_range(3, ~0U, 0);
    if (!d.spec.honour_stdin) {
      int null = open("/dev/null", O_RDONLY);
      if (null >= 0 && null != 0) {
        dup2(null, 0);
        close(null);
      }
    }
    dup2(2, 1);  // its output goes to the server's log, as uWSGI's daemons' does
    if (!d.spec.chdir.empty() && chdir(d.spec.chdir.c_str()) != 0) {
      log_line("[uwsgi-daemons] daemon \"%s\": chdir %s: %s", d.spec.cmd.c_str(), d.spec.chdir.c_str(),
               strerror(errno));
      _exit(1);
    }
    if (d.spec.has_gid && (setgroups(0, nullptr), setgid(d.spec.gid) != 0)) {
      log_line("[uwsgi-daemons] daemon \"%s\": setgid(%u): %s", d.spec.cmd.c_str(), d.spec.gid, strerror(errno));
      _exit(1);
    }
    if (d.spec.has_uid && setuid(d.spec.uid) != 0) {
      log_line("[uwsgi-daemons] daemon \"%s\": setuid(%u): %s", d.spec.cmd.c_str(), d.spec.uid, strerror(errno));
      _exit(1);
    }
    if (d.spec.daemonize) {
      // smart-attach-daemon2: the master's side writes the pidfile (the command need not).
      FILE* f = fopen(d.spec.pidfile.c_str(), "w");
      if (f) {
        fprintf(f, "%d\n", (int)getpid());
        fclose(f);
      }
    }
    execl("/bin/sh", "sh", "-c", d.spec.cmd.c_str(), (char*)nullptr);
    _exit(127);
  }
  if (d.started_ms != 0) d.respawns++;
  d.pid = pid;
  d.started_ms = now_ms;
  d.last_spawn = (uint64_t)time(nullptr);
  d.killed = false;
  log_line("[uwsgi-daemons] spawned daemon \"%s\" (pid %d)", d.spec.cmd.c_str(), (int)pid);
}

void Daemons::stop(Daemon& d, uint64_t now_ms) {
  d.pending = false;
  if (!d.spec.pidfile.empty()) {
    pid_t p = read_pidfile(d.spec.pidfile);
    if (pid_alive(p)) d.smart_pid = p;
  }
  bool any = false;
  if (d.pid > 0) any = kill(-d.pid, d.spec.stop_signal) == 0 || kill(d.pid, d.spec.stop_signal) == 0 || any;
  if (d.smart_pid > 0 && d.smart_pid != d.pid) any = kill(d.smart_pid, d.spec.stop_signal) == 0 || any;
  d.stopping = true;
  d.stop_deadline_ms = now_ms + ms_from_s(mercy_s_);
  if (!any) {
    // Nothing left to wait for.
    d.pid = 0;
    d.smart_pid = 0;
  } else {
    log_line("[uwsgi-daemons] stopping daemon \"%s\" (signal %d)", d.spec.cmd.c_str(), d.spec.stop_signal);
  }
}

void Daemons::died(Daemon& d, const char* how, uint64_t now_ms) {
  d.pid = 0;
  d.smart_pid = 0;
  if (d.stopping || shutting_down_) {
    log_line("[uwsgi-daemons] daemon \"%s\" stopped (%s)", d.spec.cmd.c_str(), how);
    d.stopping = false;
    if (d.restart_after_stop && !shutting_down_) {
      d.restart_after_stop = false;
      spawn(d, now_ms);
    } else {
      d.down = true;
    }
    return;
  }
  if (d.spec.control) {
    log_line("[uwsgi-daemons] control daemon \"%s\" died (%s): stopping the instance", d.spec.cmd.c_str(), how);
    control_died_ = true;
    d.down = true;
    return;
  }
  uint64_t lived = now_ms - d.started_ms;
  // Died younger than freq: 1, 2, 4 ... up to max_throttle seconds (supervised_process.h).
  d.backoff.set_policy({ms_from_s(d.spec.freq_s), 1000, ms_from_s(std::max(1, d.spec.max_throttle_s))});
  d.throttle_s = (int)(d.backoff.on_exit(lived) / 1000);
  if (d.throttle_s) {
    log_line("[uwsgi-daemons] daemon \"%s\" died after %llu ms (%s), less than freq=%d s: "
             "throttled, respawning in %d s",
             d.spec.cmd.c_str(), (unsigned long long)lived, how, d.spec.freq_s, d.throttle_s);
  } else {
    log_line("[uwsgi-daemons] daemon \"%s\" died (%s): respawning", d.spec.cmd.c_str(), how);
  }
  d.pending = true;
  d.respawn_at_ms = now_ms + ms_from_s(d.throttle_s);
}

bool Daemons::reaped(pid_t pid, int status, uint64_t now_ms) {
  for (auto& d : d_) {
    if (pid != d.pid && pid != d.smart_pid) continue;
    bool was_child = pid == d.pid;
    d.pid = 0;
    if (!d.spec.pidfile.empty() && !d.stopping && !shutting_down_) {
      // A smart daemon's command may daemonize itself: its exit says nothing until the pidfile does.
      pid_t p = read_pidfile(d.spec.pidfile);
      if (p != pid && pid_alive(p)) {
        d.smart_pid = p;
        return true;
      }
      if (was_child && p == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        d.check_after_ms = now_ms + 2000;  // the daemonized process may not have written it yet
        return true;
      }
    }
    if (d.smart_pid == pid) d.smart_pid = 0;
    died(d, describe(status).c_str(), now_ms);
    return true;
  }
  return false;
}

bool Daemons::smart_alive(Daemon& d) {
  pid_t p = read_pidfile(d.spec.pidfile);
  if (pid_alive(p)) {
    d.smart_pid = p;
    return true;
  }
  return pid_alive(d.smart_pid);
}

void Daemons::tick(uint64_t now_ms, bool running) {
  for (auto& d : d_) {
    if (d.stopping && !d.killed && now_ms >= d.stop_deadline_ms) {
      log_line("[uwsgi-daemons] daemon \"%s\" still running %d s after its stop signal: killing it (SIGKILL)",
               d.spec.cmd.c_str(), mercy_s_);
      if (d.pid > 0) kill(-d.pid, SIGKILL), kill(d.pid, SIGKILL);
      if (d.smart_pid > 0) kill(d.smart_pid, SIGKILL);
      d.killed = true;
    }
    if (running && !shutting_down_ && d.pending && now_ms >= d.respawn_at_ms) spawn(d, now_ms);
  }
  if (now_ms < next_tick_ms_) return;
  next_tick_ms_ = now_ms + 1000;
  for (auto& d : d_) {
    // Smart daemons not (or no longer) our children: the pidfile's pid is polled.
    if (!d.spec.pidfile.empty() && d.pid == 0 && !d.pending && !d.down && now_ms >= d.check_after_ms) {
      if (!smart_alive(d)) died(d, "its pidfile names no running process", now_ms);
    }
    if (!running || d.stopping || d.down) continue;
    for (size_t i = 0; i < d.spec.touch.size(); i++) {
      int64_t m = mtime_of(d.spec.touch[i]);
      if (m == d.touch_mtimes[i]) continue;
      d.touch_mtimes[i] = m;
      if (m == 0) continue;
      log_line("[uwsgi-daemons] %s touched: restarting daemon \"%s\"", d.spec.touch[i].c_str(), d.spec.cmd.c_str());
      if (d.pending) {
        spawn(d, now_ms);
      } else {
        stop(d, now_ms);
        if (d.pid == 0 && d.smart_pid == 0) {
          d.stopping = false;
          spawn(d, now_ms);
        } else {
          d.restart_after_stop = true;
        }
      }
      break;
    }
  }
}

void Daemons::begin_reload(uint64_t now_ms) {
  for (auto& d : d_) {
    if (d.spec.reload_signal) {
      if (d.pid > 0) kill(-d.pid, d.spec.reload_signal);
      else if (d.smart_pid > 0) kill(d.smart_pid, d.spec.reload_signal);
      continue;
    }
    if (!d.spec.pidfile.empty()) continue;  // smart: survives the reload
    d.restart_after_stop = false;
    if (d.pid > 0 || d.pending) stop(d, now_ms);
  }
}

void Daemons::begin_shutdown(uint64_t now_ms) {
  shutting_down_ = true;
  for (auto& d : d_) {
    d.restart_after_stop = false;
    if (d.pid > 0 || d.smart_pid > 0 || d.pending || !d.spec.pidfile.empty()) stop(d, now_ms);
  }
}

bool Daemons::stopped() const {
  for (auto& d : d_) {
    if (!d.stopping) continue;
    // A smart daemon that is not our child cannot be waited for: polled, and given up on a
    // second after its SIGKILL.
    if (d.pid > 0) return false;
    if (d.smart_pid > 0 && pid_alive(d.smart_pid) && !(d.killed && monotonic_ms() > d.stop_deadline_ms + 1000))
      return false;
  }
  return true;
}

std::vector<DaemonStat> Daemons::stats() const {
  std::vector<DaemonStat> out;
  for (auto& d : d_) {
    DaemonStat s;
    s.cmd = d.spec.cmd;
    s.pid = d.pid > 0 ? d.pid : d.smart_pid;
    s.respawns = d.respawns;
    s.kind = d.spec.pidfile.empty() ? "classic" : "smart";
    s.control = d.spec.control;
    s.throttle = d.pending ? d.throttle_s : 0;
    s.last_spawn = d.last_spawn;
    out.push_back(s);
  }
  return out;
}

void Daemons::export_kept() {
  std::string kept;
  for (auto& d : d_)
    if (d.pid > 0 && !d.stopping) kept += std::to_string(d.pid) + "=" + d.spec.cmd + "\n";
  if (kept.empty()) unsetenv(kKeptEnv);
  else setenv(kKeptEnv, kept.c_str(), 1);
}

}  // namespace uwsgi
