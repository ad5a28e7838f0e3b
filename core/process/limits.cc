#include "process/limits.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>

#include "log/log.h"

namespace uwsgi {

static bool set_limit(int res, rlim_t v, const char* opt, std::string* err) {
  rlimit rl{v, v};
  if (setrlimit(res, &rl) == 0) return true;
  *err = std::string("--") + opt + " " + std::to_string((unsigned long long)v) + ": setrlimit: " + strerror(errno);
  return false;
}

bool apply_process_limits(const Config& cfg, std::string* err) {
  if (long long fds = cfg.get_int("max-fd", 0); fds > 0) {
    if (!set_limit(RLIMIT_NOFILE, (rlim_t)fds, "max-fd", err)) return false;
    log_line("file descriptors limit set to %lld (--max-fd)", fds);
  }
  if (long long mb = cfg.get_int("limit-as", 0); mb > 0) {
    if (!set_limit(RLIMIT_AS, (rlim_t)mb << 20, "limit-as", err)) return false;
    log_line("address space limit set to %lld MB (--limit-as)", mb);
  }
  return true;
}

}  // namespace uwsgi
