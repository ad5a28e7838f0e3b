#include "log/log_rotation.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>

#include "config/values.h"
#include "log/log.h"

namespace uwsgi {

bool g_log_rotation = false;
static std::string g_path, g_backup;
static long long g_maxsize = 0;
static std::mutex g_mutex;  // threads of one process share the fd, so flock() does not order them

void set_log_rotation(const std::string& path, long long maxsize, const std::string& backup_name) {
  g_path = path;
  g_maxsize = maxsize;
  g_backup = backup_name;
  g_log_rotation = maxsize > 0;
}

bool read_log_rotation(const Config& cfg, std::string* err) {
  long long maxsize = 0;
  if (!get_bounded(cfg, "log-maxsize", 0, 0, 1LL << 50, &maxsize, err)) return false;
  bool touch = cfg.has("touch-logrotate");
  if (maxsize == 0 && !touch) {
    if (cfg.has("log-backupname")) {
      *err = "--log-backupname needs --log-maxsize or --touch-logrotate";
      return false;
    }
    return true;
  }
  std::string path = cfg.has("logto") ? cfg.get("logto") : cfg.get("daemonize");
  if (path.empty() || path == "true") {
    *err = std::string(maxsize ? "--log-maxsize" : "--touch-logrotate") + " needs a log file (--logto or --daemonize)";
    return false;
  }
  set_log_rotation(path, maxsize, cfg.get("log-backupname"));
  return true;
}

// --log-backupname, or (as uWSGI) the file's name with the rotation's unix time appended.
static std::string backup_path() {
  if (!g_backup.empty()) return g_backup;
  std::string base = g_path + "." + std::to_string((long long)time(nullptr));
  std::string p = base;
  struct stat st;
  for (int i = 1; stat(p.c_str(), &st) == 0; i++) p = base + "-" + std::to_string(i);  // two in a second
  return p;
}

void rotate_log_if_full(int fd) { rotate_log(fd, false); }

void rotate_log(int fd, bool force) {
  struct stat st;
  if (g_path.empty() || fstat(fd, &st) != 0 || (!force && st.st_size < g_maxsize)) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  if (flock(fd, LOCK_EX) != 0) return;
  struct stat now;
  // Still the file at the path: this process rotates it. Otherwise another one already did.
  if (stat(g_path.c_str(), &now) == 0 && now.st_ino == st.st_ino && now.st_dev == st.st_dev) {
    std::string to = backup_path();
    if (rename(g_path.c_str(), to.c_str()) != 0) {
      flock(fd, LOCK_UN);
      g_log_rotation = false;  // say it once rather than on every line
      log_line("cannot rename %s to %s for --log-maxsize: %s; rotation stopped", g_path.c_str(), to.c_str(),
               strerror(errno));
      return;
    }
  }
  flock(fd, LOCK_UN);
  log_to_file(g_path.c_str());  // the old fd (and its lock) goes with the dup2
  // The new file keeps the old one's mode and owner (--logfile-chmod/--logfile-chown): a best
  // effort, as another process may have rotated it already.
  bool kept = chmod(g_path.c_str(), st.st_mode & 07777) == 0 && chown(g_path.c_str(), st.st_uid, st.st_gid) == 0;
  (void)kept;
}

}  // namespace uwsgi
