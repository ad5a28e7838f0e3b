#include "process/process_opts.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "log/log.h"

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

bool drop_privileges_if_asked(const Config& cfg, std::string* err) {
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
