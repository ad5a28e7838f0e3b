#include "process/touch_reload.h"

#include <sys/stat.h>

#include "config/options.h"
#include "config/values.h"
#include "log/log.h"

namespace uwsgi {

int64_t TouchWatcher::mtime_of(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return 0;
  return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

void register_touch_options(HostImpl& host) {
  const OptArg R = OptArg::Required;
  host.add_option(make_option("touch-mules-reload", 0, R,
                              "restart the mules when this file's mtime changes (repeatable)"));
  host.add_option(make_option("touch-signal", 0, R,
                              "raise uWSGI signal N when FILE's mtime changes: \"FILE N\" (repeatable)"));
  host.add_option(make_option("touch-exec", 0, R,
                              "run COMMAND (/bin/sh -c, not waited for) when FILE's mtime changes: \"FILE COMMAND\" (repeatable)"));
}

// "FILE REST": the first space separates them (uWSGI's syntax).
static bool split_file_arg(const std::string& v, std::string* file, std::string* rest) {
  size_t sp = v.find(' ');
  if (sp == 0 || sp == std::string::npos) return false;
  *file = v.substr(0, sp);
  *rest = v.substr(v.find_first_not_of(' ', sp) == std::string::npos ? v.size() : v.find_first_not_of(' ', sp));
  return !rest->empty();
}

static bool parse_signal_touch(const std::string& v, std::string* file, int* num) {
  std::string rest;
  long long n = 0;
  if (!split_file_arg(v, file, &rest) || !parse_count(rest, &n) || n > 255) return false;
  *num = (int)n;
  return true;
}

bool check_touch_options(const Config& cfg, std::string* err) {
  std::string file, rest;
  int num = 0;
  for (auto& v : cfg.all("touch-signal")) {
    if (parse_signal_touch(v, &file, &num)) continue;
    *err = "--touch-signal wants \"FILE SIGNAL\" (a signal from 0 to 255), not \"" + v + "\"";
    return false;
  }
  for (auto& v : cfg.all("touch-exec")) {
    if (split_file_arg(v, &file, &rest)) continue;
    *err = "--touch-exec wants \"FILE COMMAND\", not \"" + v + "\"";
    return false;
  }
  return true;
}

void TouchWatcher::configure(const Config& cfg) {
  files_.clear();
  const std::pair<const char*, TouchAction> kinds[] = {{"touch-reload", TouchAction::kReload},
                                                       {"touch-workers-reload", TouchAction::kWorkersReload},
                                                       {"touch-chain-reload", TouchAction::kChainReload},
                                                       {"touch-mules-reload", TouchAction::kMulesReload}};
  for (auto& [opt, action] : kinds)
    for (auto& path : cfg.all(opt)) files_.push_back({path, action, mtime_of(path), {action}});
  std::string file;
  for (auto& v : cfg.all("touch-signal")) {
    TouchEvent e{TouchAction::kSignal};
    if (parse_signal_touch(v, &file, &e.signal)) files_.push_back({file, e.action, mtime_of(file), e});
  }
  for (auto& v : cfg.all("touch-exec")) {
    TouchEvent e{TouchAction::kExec};
    if (split_file_arg(v, &file, &e.command)) files_.push_back({file, e.action, mtime_of(file), e});
  }
}

TouchAction TouchWatcher::poll(uint64_t now_ms, std::vector<TouchEvent>* others) {
  if (files_.empty() || now_ms < next_ms_) return TouchAction::kNone;
  next_ms_ = now_ms + 1000;
  TouchAction out = TouchAction::kNone;
  for (auto& f : files_) {
    int64_t m = mtime_of(f.path);
    if (m == f.mtime_ns) continue;
    f.mtime_ns = m;
    if (m == 0) continue;  // removed: nothing to reload onto
    log_line("%s touched (--%s)", f.path.c_str(), touch_action_name(f.action));
    if (f.action == TouchAction::kMulesReload || f.action == TouchAction::kSignal || f.action == TouchAction::kExec) {
      if (others) others->push_back(f.event);
      continue;
    }
    if (out == TouchAction::kNone || f.action == TouchAction::kReload) out = f.action;
  }
  return out;
}

const char* touch_action_name(TouchAction a) {
  switch (a) {
    case TouchAction::kReload: return "touch-reload";
    case TouchAction::kWorkersReload: return "touch-workers-reload";
    case TouchAction::kChainReload: return "touch-chain-reload";
    case TouchAction::kMulesReload: return "touch-mules-reload";
    case TouchAction::kSignal: return "touch-signal";
    case TouchAction::kExec: return "touch-exec";
    default: return "none";
  }
}

}  // namespace uwsgi
