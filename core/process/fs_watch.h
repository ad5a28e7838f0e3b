// --fs-reload, --fs-brutal-reload, --fs-signal: filesystem objects the master watches with
// inotify (a file: written, attributes, moved or deleted; a directory: also an entry created,
// deleted or moved in it). A change asks for a graceful reload, a brutal one (the workers are
// killed instead of finishing their requests) or raises a uWSGI signal.
#pragma once

#include <string>
#include <vector>

#include "host.h"

namespace uwsgi {

void register_fs_watch_options(HostImpl& host);
// Bad "PATH SIGNAL" values stop start-up.
bool check_fs_watch_options(const Config& cfg, std::string* err);

enum class FsAction { kReload, kBrutalReload, kSignal };

struct FsChange {
  FsAction action;
  int signal = 0;  // kSignal
};

class FsWatcher {
 public:
  ~FsWatcher();
  // Adds a watch per option (logged; a path that cannot be watched is logged and skipped, as a
  // file monitor is). The inotify fd is close-on-exec.
  void configure(const Config& cfg);
  int fd() const { return fd_; }
  // What the changes read since the last call ask for: one entry per watch that changed.
  std::vector<FsChange> read_changes();

 private:
  struct Watch {
    int wd;
    std::string path;
    FsChange change;
  };
  int fd_ = -1;
  std::vector<Watch> watches_;
};

}  // namespace uwsgi
