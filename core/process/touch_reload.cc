#include "process/touch_reload.h"

#include <sys/stat.h>

#include "log/log.h"

namespace uwsgi {

int64_t TouchWatcher::mtime_of(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return 0;
  return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

void TouchWatcher::configure(const Config& cfg) {
  files_.clear();
  const std::pair<const char*, TouchAction> kinds[] = {{"touch-reload", TouchAction::kReload},
                                                       {"touch-workers-reload", TouchAction::kWorkersReload},
                                                       {"touch-chain-reload", TouchAction::kChainReload}};
  for (auto& [opt, action] : kinds)
    for (auto& path : cfg.all(opt)) files_.push_back({path, action, mtime_of(path)});
}

TouchAction TouchWatcher::poll(uint64_t now_ms) {
  if (files_.empty() || now_ms < next_ms_) return TouchAction::kNone;
  next_ms_ = now_ms + 1000;
  TouchAction out = TouchAction::kNone;
  for (auto& f : files_) {
    int64_t m = mtime_of(f.path);
    if (m == f.mtime_ns) continue;
    f.mtime_ns = m;
    if (m == 0) continue;  // removed: nothing to reload onto
    log_line("%s touched (--%s)", f.path.c_str(), touch_action_name(f.action));
    if (out == TouchAction::kNone || f.action == TouchAction::kReload) out = f.action;
  }
  return out;
}

const char* touch_action_name(TouchAction a) {
  switch (a) {
    case TouchAction::kReload: return "touch-reload";
    case TouchAction::kWorkersReload: return "touch-workers-reload";
    case TouchAction::kChainReload: return "touch-chain-reload";
    default: return "none";
  }
}

}  // namespace uwsgi
