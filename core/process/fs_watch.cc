#include "process/fs_watch.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "config/options.h"
#include "config/values.h"
#include "log/log.h"

namespace uwsgi {

void register_fs_watch_options(HostImpl& host) {
  const OptArg R = OptArg::Required;
  host.add_option(make_option("fs-reload", 0, R,
                              "gracefully reload the server when this file or directory changes (inotify; repeatable)"));
  host.add_option(make_option("fs-brutal-reload", 0, R,
                              "reload the server, killing the workers, when this file or directory changes (inotify; repeatable)"));
  host.add_option(make_option("fs-signal", 0, R,
                              "raise uWSGI signal N when PATH changes: \"PATH N\" (inotify; repeatable)"));
}

static bool parse_fs_signal(const std::string& v, std::string* path, int* num) {
  size_t sp = v.rfind(' ');
  long long n = 0;
  if (sp == 0 || sp == std::string::npos || !parse_count(v.substr(sp + 1), &n) || n > 255) return false;
  *path = v.substr(0, v.find_last_not_of(' ', sp) + 1);
  *num = (int)n;
  return true;
}

bool check_fs_watch_options(const Config& cfg, std::string* err) {
  std::string path;
  int num = 0;
  for (auto& v : cfg.all("fs-signal")) {
    if (parse_fs_signal(v, &path, &num)) continue;
    *err = "--fs-signal wants \"PATH SIGNAL\" (a signal from 0 to 255), not \"" + v + "\"";
    return false;
  }
  return true;
}

FsWatcher::~FsWatcher() {
  if (fd_ >= 0) close(fd_);
}

void FsWatcher::configure(const Config& cfg) {
  std::vector<std::pair<std::string, FsChange>> wanted;
  for (auto& p : cfg.all("fs-reload")) wanted.push_back({p, {FsAction::kReload}});
  for (auto& p : cfg.all("fs-brutal-reload")) wanted.push_back({p, {FsAction::kBrutalReload}});
  for (auto& v : cfg.all("fs-signal")) {
    FsChange c{FsAction::kSignal};
    std::string path;
    if (parse_fs_signal(v, &path, &c.signal)) wanted.push_back({path, c});
  }
  if (wanted.empty()) return;
  fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd_ < 0) {
    log_line("--fs-reload/--fs-signal: inotify_init1: %s", strerror(errno));
    return;
  }
  for (auto& [path, change] : wanted) {
    int wd = inotify_add_watch(fd_, path.c_str(),
                               IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM |
                                   IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF);
    if (wd < 0) {
      log_line("cannot watch %s: inotify_add_watch: %s", path.c_str(), strerror(errno));
      continue;
    }
    watches_.push_back({wd, path, change});
    log_line("watching %s for changes (inotify)", path.c_str());
  }
}

std::vector<FsChange> FsWatcher::read_changes() {
  std::vector<FsChange> out;
  if (fd_ < 0) return out;
  std::vector<bool> fired(watches_.size());
  alignas(inotify_event) char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) break;
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      for (size_t i = 0; i < watches_.size(); i++)
        if (watches_[i].wd == ev->wd) fired[i] = true;
      p += sizeof(inotify_event) + ev->len;
    }
  }
  for (size_t i = 0; i < watches_.size(); i++) {
    if (!fired[i]) continue;  // one action per watch for a batch of events, however many changes
    log_line("%s changed", watches_[i].path.c_str());
    out.push_back(watches_[i].change);
  }
  return out;
}

}  // namespace uwsgi
