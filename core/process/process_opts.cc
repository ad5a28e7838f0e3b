#include "process/process_opts.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "log/log.h"
#include "process/limits.h"

namespace uwsgi {

bool daemonize_if_asked(const Config& cfg, std::string* err) {
  if (!cfg.has("daemonize")) return true;
  std::string logfile = cfg.get("daemonize");
  bool has_file = !logfile.empty() && logfile != "true";
  if (getenv("UWSGI_INHERITED_SOCKETS")) {  // a reload: already detached; the log file is opened again
    if (has_file && !log_to_file(logfile.c_str())) {  // by its path (after logrotate: a new file)
      *err = "cannot open --daemonize log " + logfile + ": " + strerror(errno);
      return false;
    }
    if (has_file) dup2(2, 1);
    return true;
  }
  if (has_file && !log_to_file(logfile.c_str())) {
    *err = "cannot open --daemonize log " + logfile + ": " + strerror(errno);
    return false;
  }
  pid_t pid = fork();
  if (pid < 0) {
    *err = std::string("fork: ") + strerror(errno);
    return false;
  }
  if (pid > 0) _exit(0);
  setsid();
  int null = open("/dev/null", O_RDWR);
  if (null >= 0) {
    dup2(null, 0);
    dup2(2, 1);  // stdout follows the log file too
    if (null > 2) close(null);
  }
  return true;
}

void remap_stdin_unless_honoured(const Config& cfg) {
  if (cfg.get_bool("honour-stdin")) return;
  int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null < 0) return;
  if (null == 0) {
    fcntl(0, F_SETFD, 0);  // fd 0 was closed: keep /dev/null there across a reload's exec
  } else {
    dup2(null, 0);  // the copy on fd 0 is not close-on-exec
    close(null);
  }
}

bool parse_id(const std::string& v, bool user, unsigned* out, std::string* err) {
  char* end = nullptr;
  unsigned long n = strtoul(v.c_str(), &end, 10);
  if (!v.empty() && end && *end == 0) {
    *out = (unsigned)n;
    return true;
  }
  if (user) {
    if (passwd* p = getpwnam(v.c_str())) {
      *out = p->pw_uid;
      return true;
    }
  } else if (group* g = getgrnam(v.c_str())) {
    *out = g->gr_gid;
    return true;
  }
  *err = std::string("unknown ") + (user ? "user" : "group") + " \"" + v + "\"";
  return false;
}

void register_process_options(HostImpl& host) {
  const OptArg R = OptArg::Required, N = OptArg::None;
  host.add_option(make_option("master-as-root", 0, N,
                              "the master stays root: workers, mules, the spooler and the router drop to --uid/--gid "
                              "after their fork"));
  host.add_option(make_option("add-gid", 0, R,
                              "with --uid/--gid, also add this group (name or number) to the supplementary groups "
                              "(repeatable)"));
  host.add_option(make_option("unenv", 0, R, "unset this environment variable (repeatable; in order with --env)"));
  host.add_option(make_option("print", 0, R, "print this text to stdout once the configuration is read"));
  OptionDef iprint = make_option("iprint", 0, R, "print this text to stdout as soon as the option is read");
  iprint.on_set = [](std::string_view v, std::string*) {
    if (!getenv(kConfigCheckEnv)) printf("%.*s\n", (int)v.size(), v.data());  // not again in a reload's dry run
    fflush(stdout);
    return true;
  };
  host.add_option(std::move(iprint));
  host.add_option(make_option("skip-atexit", 0, N,
                              "a worker that exits runs no atexit handler (uwsgi.atexit, Python's atexit)"));
  host.add_option(make_option("skip-atexit-teardown", 0, N,
                              "a worker that exits runs uwsgi.atexit but not Python's atexit handlers"));
}

bool apply_env_options(const Config& cfg, std::string* err) {
  for (auto& [name, e] : cfg.items()) {
    if (name == "unenv") {
      if (e.empty() || e.find('=') != std::string::npos) {
        *err = "--unenv wants a variable NAME, not \"" + e + "\"";
        return false;
      }
      unsetenv(e.c_str());
      continue;
    }
    if (name != "env") continue;
    size_t eq = e.find('=');
    if (eq == 0 || e.empty()) {
      *err = "--env wants NAME=VALUE (or NAME to unset it), not \"" + e + "\"";
      return false;
    }
    if (eq == std::string::npos) unsetenv(e.c_str());  // as uWSGI (putenv("NAME") removes NAME)
    else setenv(e.substr(0, eq).c_str(), e.substr(eq + 1).c_str(), 1);
  }
  return true;
}

void print_config_messages(const Config& cfg) {
  for (auto& text : cfg.all("print")) printf("%s\n", text.c_str());
  fflush(stdout);
}

// Set when the master keeps root (--master-as-root): the children that run app code drop to it.
static const Config* g_drop_in_children = nullptr;

static bool drop_privileges(const Config& cfg, std::string* err);

bool drop_privileges_if_asked(const Config& cfg, bool master, std::string* err) {
  if (master && cfg.get_bool("master-as-root") && (cfg.has("uid") || cfg.has("gid"))) {
    unsigned id = 0;  // bad names stop start-up here, not in every child
    if ((cfg.has("uid") && !parse_id(cfg.get("uid"), true, &id, err)) ||
        (cfg.has("gid") && !parse_id(cfg.get("gid"), false, &id, err)))
      return false;
    for (auto& g : cfg.all("add-gid"))
      if (!parse_id(g, false, &id, err)) return false;
    g_drop_in_children = &cfg;
    log_line("the master stays root (--master-as-root): its children drop privileges");
    return true;
  }
  return drop_privileges(cfg, err);
}

bool drop_privileges_in_child(std::string* err) {
  if (!relock_memory_if_asked(err)) return false;
  return !g_drop_in_children || drop_privileges(*g_drop_in_children, err);
}

// --add-gid: appended to the supplementary groups initgroups() (or setgroups) left.
static bool add_groups(const Config& cfg, std::string* err) {
  std::vector<gid_t> groups;
  int n = getgroups(0, nullptr);
  if (n > 0) {
    groups.resize((size_t)n);
    n = getgroups(n, groups.data());
    groups.resize(n > 0 ? (size_t)n : 0);
  }
  for (auto& g : cfg.all("add-gid")) {
    unsigned gid = 0;
    if (!parse_id(g, false, &gid, err)) {
      *err = "--add-gid: " + *err;
      return false;
    }
    groups.push_back((gid_t)gid);
  }
  if (setgroups(groups.size(), groups.data()) != 0) {
    *err = std::string("--add-gid: setgroups: ") + strerror(errno);
    return false;
  }
  log_line("added groups %s (--add-gid)", [&] {
    std::string s;
    for (auto& g : cfg.all("add-gid")) s += (s.empty() ? "" : ",") + g;
    return s;
  }().c_str());
  return true;
}

static bool drop_privileges(const Config& cfg, std::string* err) {
  unsigned uid = 0, gid = 0;
  bool has_uid = cfg.has("uid"), has_gid = cfg.has("gid");
  if (has_uid && !parse_id(cfg.get("uid"), true, &uid, err)) return false;
  if (has_gid && !parse_id(cfg.get("gid"), false, &gid, err)) return false;
  // The group first: once the uid is dropped, changing groups is no longer allowed.
  if (has_gid) {
    if (getuid() == 0 && setgroups(0, nullptr) != 0) {
      *err = std::string("setgroups: ") + strerror(errno);
      return false;
    }
    if (setgid(gid) != 0) {
      *err = "setgid(" + std::to_string(gid) + "): " + strerror(errno);
      return false;
    }
    log_line("setgid() to %u", gid);
    // As uWSGI: the user's supplementary groups too (www-data in ssl-cert reads the TLS keys),
    // unless --no-initgroups. A uid with no passwd entry keeps only its gid.
    struct passwd* pw = has_uid && getuid() == 0 && !cfg.get_bool("no-initgroups") ? getpwuid(uid) : nullptr;
    if (pw && initgroups(pw->pw_name, gid) != 0) {
      *err = std::string("initgroups(") + pw->pw_name + "): " + strerror(errno);
      return false;
    }
  }
  if (!cfg.all("add-gid").empty() && getuid() == 0 && !add_groups(cfg, err)) return false;
  if (has_uid) {
    if (setuid(uid) != 0) {
      *err = "setuid(" + std::to_string(uid) + "): " + strerror(errno);
      return false;
    }
    log_line("setuid() to %u", uid);
  }
  return true;
}

static void drop_signal(int) {}

void ignore_report_signals() {
  struct sigaction sa {};
  sa.sa_handler = drop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGUSR1, SIGUSR2}) sigaction(sig, &sa, nullptr);
}

static volatile sig_atomic_t g_early_reload = 0;
static void note_early_reload(int) { g_early_reload = 1; }

void defer_reload_signal() {
  struct sigaction sa {};
  sa.sa_handler = note_early_reload;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGHUP, &sa, nullptr);
}

bool early_reload_requested() { return g_early_reload != 0; }

void keep_process_name(const char* argv0) {
  char comm[32] = {0};
  int fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, comm, sizeof comm - 1);
  close(fd);
  if (n <= 0 || strncmp(comm, "exe\n", 4) != 0 || !argv0) return;
  const char* base = strrchr(argv0, '/');
  base = base ? base + 1 : argv0;
  if (*base) prctl(PR_SET_NAME, base);  // the kernel keeps the first 15 bytes, as for exec
}

}  // namespace uwsgi
