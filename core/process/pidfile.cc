#include "process/pidfile.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "log/log.h"

namespace uwsgi {

namespace {

// uWSGI's convenience commands: the signal each sends to the pid in the file.
struct SignalCommand {
  const char* option;
  int signum;
  const char* help;
};
constexpr SignalCommand kCommands[] = {
  {"stop", SIGINT, "stop the instance whose master's pid is in this file (SIGINT: graceful shutdown) and exit"},
  {"reload", SIGHUP, "gracefully reload the instance whose master's pid is in this file (SIGHUP) and exit"},
  {"pause", SIGTSTP, "pause (or resume) the instance whose master's pid is in this file (SIGTSTP) and exit"},
  {"suspend", SIGTSTP, "same as --pause"},
  {"resume", SIGTSTP, "resume a paused instance (SIGTSTP: pausing again toggles) and exit"},
};

// Written beside the target and renamed over it, so a reader never sees a partial file.
bool write_pid(const std::string& path, bool atomic, std::string* err) {
  std::string text = std::to_string((int)getpid()) + "\n";
  std::string tmp = atomic ? path + ".tmp" + std::to_string((int)getpid()) : path;
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0 && write(fd, text.data(), text.size()) == (ssize_t)text.size();
  int saved = errno;
  if (fd >= 0 && close(fd) != 0 && ok) ok = false, saved = errno;
  if (ok && atomic && rename(tmp.c_str(), path.c_str()) != 0) ok = false, saved = errno;
  if (!ok) {
    if (atomic && fd >= 0) unlink(tmp.c_str());
    *err = "cannot write " + path + ": " + strerror(saved);
  }
  return ok;
}

}  // namespace

void register_pidfile_options(HostImpl& host) {
  const OptArg R = OptArg::Required;
  host.add_option(make_option("pidfile", 0, R, "write the master's pid to this file (before --uid/--gid)"));
  host.add_option(make_option("pidfile2", 0, R, "write the master's pid to this file (after --uid/--gid)"));
  host.add_option(make_option("safe-pidfile", 0, R,
                              "as --pidfile, written to a temp file then renamed (readers never see it half written)"));
  host.add_option(make_option("safe-pidfile2", 0, R, "as --pidfile2, written to a temp file then renamed"));
  for (auto& c : kCommands) host.add_option(make_option(c.option, 0, R, c.help));
}

bool signal_instance_if_asked(const Config& cfg, int* rc) {
  for (auto& c : kCommands) {
    if (!cfg.has(c.option)) continue;
    std::string path = cfg.get(c.option);
    *rc = 1;
    FILE* f = fopen(path.c_str(), "r");
    if (!f) {
      log_line("uwsgi: --%s: cannot read the pidfile %s: %s", c.option, path.c_str(), strerror(errno));
      return true;
    }
    char buf[32] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char* end = nullptr;
    long pid = strtol(buf, &end, 10);
    while (end && (*end == '\n' || *end == '\r' || *end == ' ')) end++;
    // 0 or a negative number would signal whole process groups: only a plain positive pid.
    if (end == buf || !end || *end != 0 || pid <= 0 || pid > 0x3fffffff) {
      log_line("uwsgi: --%s: %s holds no pid", c.option, path.c_str());
      return true;
    }
    if (kill((pid_t)pid, c.signum) != 0) {
      log_line("uwsgi: --%s: cannot signal pid %ld (from %s): %s", c.option, pid, path.c_str(), strerror(errno));
      return true;
    }
    *rc = 0;
    return true;
  }
  return false;
}

bool write_pidfiles(const Config& cfg, bool before_privileges_drop, bool reload_reexec, std::string* err) {
  if (reload_reexec) return true;  // same pid, files in place
  const char* plain = before_privileges_drop ? "pidfile" : "pidfile2";
  const char* safe = before_privileges_drop ? "safe-pidfile" : "safe-pidfile2";
  for (const char* opt : {plain, safe}) {
    if (!cfg.has(opt)) continue;
    if (!write_pid(cfg.get(opt), opt == safe, err)) {
      *err = std::string("--") + opt + ": " + *err;
      return false;
    }
  }
  return true;
}

std::vector<std::string> pidfile_paths(const Config& cfg) {
  std::vector<std::string> out;
  for (const char* opt : {"pidfile", "pidfile2", "safe-pidfile", "safe-pidfile2"})
    if (cfg.has(opt)) out.push_back(cfg.get(opt));
  return out;
}

}  // namespace uwsgi
