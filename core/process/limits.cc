#include "process/limits.h"

#include <sys/mman.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>

#include "config/options.h"
#include "config/values.h"
#include "log/log.h"

namespace uwsgi {

void register_limit_options(HostImpl& host) {
  const OptArg R = OptArg::Required;
  host.add_option(make_option("limit-nproc", 0, R,
                              "limit the processes (and threads) the server's user may run (RLIMIT_NPROC)", {}, true));
  host.add_option(make_option("prio", 0, R,
                              "scheduling priority (nice value, -20..19) of the master and every process it starts"));
  host.add_option(make_option("never-swap", 0, OptArg::None,
                              "lock every process's memory in RAM (mlockall: current and future pages), so none is swapped"));
}

static bool set_limit(int res, rlim_t v, const char* opt, std::string* err) {
  rlimit rl{v, v};
  if (setrlimit(res, &rl) == 0) return true;
  *err = std::string("--") + opt + " " + std::to_string((unsigned long long)v) + ": setrlimit: " + strerror(errno);
  return false;
}

static bool g_never_swap = false;

static bool lock_memory(std::string* err) {
  if (mlockall(MCL_CURRENT | MCL_FUTURE) == 0) return true;
  *err = std::string("--never-swap: mlockall: ") + strerror(errno);
  return false;
}

bool relock_memory_if_asked(std::string* err) { return !g_never_swap || lock_memory(err); }

bool apply_process_limits(const Config& cfg, std::string* err) {
  if (long long fds = cfg.get_int("max-fd", 0); fds > 0) {
    if (!set_limit(RLIMIT_NOFILE, (rlim_t)fds, "max-fd", err)) return false;
    log_line("file descriptors limit set to %lld (--max-fd)", fds);
  }
  if (long long mb = cfg.get_int("limit-as", 0); mb > 0) {
    if (!set_limit(RLIMIT_AS, (rlim_t)mb << 20, "limit-as", err)) return false;
    log_line("address space limit set to %lld MB (--limit-as)", mb);
  }
  if (long long n = cfg.get_int("limit-nproc", 0); n > 0) {
    if (!set_limit(RLIMIT_NPROC, (rlim_t)n, "limit-nproc", err)) return false;
    log_line("processes limit set to %lld (--limit-nproc)", n);
  }
  if (cfg.has("prio")) {
    long long prio = 0;
    if (!get_bounded(cfg, "prio", 0, -20, 19, &prio, err)) return false;
    if (setpriority(PRIO_PROCESS, 0, (int)prio) != 0) {
      *err = "--prio " + std::to_string(prio) + ": setpriority: " + strerror(errno);
      return false;
    }
    log_line("scheduler priority set to %lld (--prio)", prio);
  }
  if (cfg.get_bool("never-swap")) {
    if (!lock_memory(err)) return false;
    g_never_swap = true;
    log_line("memory locked in RAM (--never-swap)");
  }
  return true;
}

}  // namespace uwsgi
