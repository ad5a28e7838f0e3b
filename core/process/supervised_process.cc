#include "process/supervised_process.h"
#include "process/process_opts.h"

#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "log/log.h"
#include "log/log_buffer.h"
#include "log/log_master.h"
#include "process/procname.h"

namespace uwsgi {

uint64_t Backoff::on_exit(uint64_t lived_ms, bool counts) {
  if (!counts || lived_ms >= p_.young_ms) {
    streak_ = 0;
    return 0;
  }
  streak_++;
  const uint64_t kFloor = 100;  // whatever the policy says: a young death is never respawned at once
  uint64_t first = std::max(p_.first_delay_ms, kFloor), d = first;
  for (int i = 1; i < streak_ && d < p_.max_delay_ms; i++) d *= 2;
  return std::min(d, std::max(first, p_.max_delay_ms));
}

const char* process_kind_name(ProcessKind k) {
  switch (k) {
    case ProcessKind::kWorker: return "worker";
    case ProcessKind::kRouter: return "router";
    case ProcessKind::kMule: return "mule";
    case ProcessKind::kSpooler: return "spooler";
    case ProcessKind::kDaemon: return "daemon";
    case ProcessKind::kVassal: return "vassal";
  }
  return "process";
}

static std::vector<int>& master_only_fds() {
  static std::vector<int> fds;
  return fds;
}

void add_master_only_fd(int fd) {
  if (fd >= 0) master_only_fds().push_back(fd);
}

pid_t fork_supervised(const ChildSetup& c) {
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &old);
  pid_t master = getpid();
  pid_t pid = fork();
  if (pid != 0) {
    int saved = errno;
    sigprocmask(SIG_SETMASK, &old, nullptr);
    errno = saved;
    return pid;
  }
  if (c.new_session) setsid();
  if (c.pdeath_signal) {
    prctl(PR_SET_PDEATHSIG, c.pdeath_signal);
    if (getppid() != master) _exit(0);  // the master died before prctl
  }
  // The master's handlers only set the master's flags: in a child they would swallow signals.
  for (int sig = 1; sig < 65; sig++) ::signal(sig, SIG_DFL);
  if (c.ignore_sigpipe) ::signal(SIGPIPE, SIG_IGN);
  for (int fd : master_only_fds()) close(fd);
  master_only_fds().clear();  // gone here: a fork of this child must not close their numbers again
  if (c.log_to_master) log_master_child();
  if (!c.title.empty()) set_procname_title(c.title);
  if (c.prepare) c.prepare();
  if (c.runs_app_code) {
    std::string err;
    if (!drop_privileges_in_child(&err)) {
      log_line("%s", err.c_str());
      log_flush();
      _exit(1);
    }
  }
  if (c.unblock_signals) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
  }
  return 0;
}

bool SupervisedProcess::spawn(uint64_t now_ms) {
  pid_t p = fork_supervised(setup);
  if (p < 0) {
    log_line("fork() for %s failed: %s: retrying in 1 s", name.c_str(), strerror(errno));
    respawn_at_ms = now_ms + 1000;
    return false;
  }
  if (p == 0) {
    int rc = start ? start() : 1;
    log_flush();  // _exit() runs no atexit handler
    _exit(rc);
  }
  if (spawned_once) respawns++;
  spawned_once = true;
  pid = p;
  started_ms = now_ms;
  last_spawn = (uint64_t)time(nullptr);
  return true;
}

uint64_t SupervisedProcess::exited(uint64_t now_ms, bool counts) {
  pid = 0;
  uint64_t delay = backoff.on_exit(now_ms >= started_ms ? now_ms - started_ms : 0, counts);
  respawn_at_ms = now_ms + delay;
  return delay;
}

bool SupervisedProcess::signal(int sig) const { return pid > 0 && kill(pid, sig) == 0; }

SupervisedStat supervised_stat(const SupervisedProcess& p) {
  SupervisedStat s;
  s.kind = process_kind_name(p.kind);
  s.name = p.name;
  s.id = p.id;
  s.pid = p.pid;
  s.respawn_count = p.respawns;
  s.last_spawn = p.last_spawn;
  return s;
}

}  // namespace uwsgi
