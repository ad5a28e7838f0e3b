#include "log/log_reopen.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "config/options.h"
#include "host.h"
#include "log/log.h"
#include "log/log_buffer.h"
#include "log/log_rotation.h"
#include "process/process_opts.h"

namespace uwsgi {

void register_log_file_options(HostImpl& host) {
  const OptArg R = OptArg::Required, N = OptArg::None;
  host.add_option(make_option("log-truncate", 0, N, "empty the --logto file at start (not at a reload)"));
  host.add_option(make_option("logfile-chmod", 0, R, "mode of the --logto file (octal, e.g. 640)"));
  host.add_option(make_option("logfile-chown", 0, N, "give the --logto file to --uid / --gid"));
  host.add_option(make_option("touch-logreopen", 0, R,
                              "reopen the --logto file by its path when this file is touched"));
  host.add_option(make_option("touch-logrotate", 0, R,
                              "rotate the --logto file (as --log-maxsize does) when this file is touched"));
}

static std::string log_path(const Config& cfg) {
  std::string p = cfg.has("logto") ? cfg.get("logto") : cfg.get("daemonize");
  return p == "true" ? "" : p;
}

void truncate_log_if_asked(const Config& cfg, bool check_only) {
  if (check_only || !cfg.get_bool("log-truncate") || getenv("UWSGI_INHERITED_SOCKETS")) return;
  std::string p = log_path(cfg);
  if (!p.empty() && truncate(p.c_str(), 0) != 0 && errno != ENOENT)
    log_line("--log-truncate: cannot truncate %s: %s", p.c_str(), strerror(errno));
}

static std::string g_path;
static mode_t g_mode = 0;
static bool g_chmod = false, g_chown = false;
static uid_t g_uid = (uid_t)-1;
static gid_t g_gid = (gid_t)-1;

struct Touched {
  std::string path;
  int64_t mtime_ns;
  bool rotate;  // --touch-logrotate, else --touch-logreopen
};
static std::vector<Touched> g_touch;

static int64_t mtime_of(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -1;
  return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

static bool apply_owner_mode(std::string* err) {
  if (g_chmod && chmod(g_path.c_str(), g_mode) != 0) {
    *err = "--logfile-chmod: chmod " + g_path + ": " + strerror(errno);
    return false;
  }
  if (g_chown && chown(g_path.c_str(), g_uid, g_gid) != 0) {
    *err = "--logfile-chown: chown " + g_path + ": " + strerror(errno);
    return false;
  }
  return true;
}

// Before each write to the file (the log writer's hook): a touched file reopens or rotates it.
static void reopen_if_touched() {
  bool reopen = false, rotate = false;
  for (auto& t : g_touch) {
    int64_t m = mtime_of(t.path);
    if (m != t.mtime_ns) {
      t.mtime_ns = m;
      (t.rotate ? rotate : reopen) = true;
    }
  }
  std::string err;
  if (rotate) {
    rotate_log(log_fd(), true);  // renames the file (or sees another process did) and opens a new one
    if (!apply_owner_mode(&err)) log_line("%s", err.c_str());
    return;
  }
  if (!reopen) return;
  if (!log_to_file(g_path.c_str())) {
    log_line("--touch-logreopen: cannot reopen %s: %s", g_path.c_str(), strerror(errno));
    return;
  }
  if (!apply_owner_mode(&err)) log_line("%s", err.c_str());
}

bool setup_log_file(const Config& cfg, bool check_only, std::string* err) {
  g_path = log_path(cfg);
  bool wants = cfg.has("logfile-chmod") || cfg.get_bool("logfile-chown") || cfg.has("touch-logreopen") ||
               cfg.has("touch-logrotate");
  if (!wants) return true;
  if (g_path.empty()) {
    *err = "--logfile-chmod, --logfile-chown, --touch-logreopen and --touch-logrotate need a log file "
           "(--logto or --daemonize)";
    return false;
  }
  if (cfg.has("logfile-chmod")) {
    std::string v = cfg.get("logfile-chmod");
    char* end = nullptr;
    unsigned long m = strtoul(v.c_str(), &end, 8);
    if (v.empty() || *end || m > 07777) {
      *err = "--logfile-chmod wants an octal mode such as 640, not \"" + v + "\"";
      return false;
    }
    g_chmod = true;
    g_mode = (mode_t)m;
  }
  if (cfg.get_bool("logfile-chown")) {
    unsigned id;
    if (!cfg.has("uid") && !cfg.has("gid")) {
      *err = "--logfile-chown gives the log file to --uid / --gid: neither is set";
      return false;
    }
    if (cfg.has("uid")) {
      if (!parse_id(cfg.get("uid"), true, &id, err)) return false;
      g_uid = id;
    }
    if (cfg.has("gid")) {
      if (!parse_id(cfg.get("gid"), false, &id, err)) return false;
      g_gid = id;
    }
    g_chown = true;
  }
  for (auto& p : cfg.all("touch-logreopen")) g_touch.push_back({p, mtime_of(p), false});
  for (auto& p : cfg.all("touch-logrotate")) g_touch.push_back({p, mtime_of(p), true});
  if (check_only) return true;
  std::string why;  // not fatal: a reload (maybe without root by now) keeps the file as it is
  if (!apply_owner_mode(&why)) log_line("%s", why.c_str());
  if (!g_touch.empty()) set_log_before_write(reopen_if_touched);
  return true;
}

}  // namespace uwsgi
