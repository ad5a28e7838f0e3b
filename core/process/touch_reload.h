// --touch-reload, --touch-workers-reload, --touch-chain-reload: files whose modification time the
// master checks about once a second; a change asks for that kind of reload.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "host.h"

namespace uwsgi {

enum class TouchAction { kNone, kReload, kWorkersReload, kChainReload };

class TouchWatcher {
 public:
  // Reads the three options and each file's current mtime (a missing file counts as "never
  // touched": creating it later is a touch, as in uWSGI).
  void configure(const Config& cfg);
  bool empty() const { return files_.empty(); }
  // At most once a second: the strongest action a changed file asks for (kReload beats the others).
  TouchAction poll(uint64_t now_ms);

 private:
  struct File {
    std::string path;
    TouchAction action;
    int64_t mtime_ns;
  };
  static int64_t mtime_of(const std::string& path);
  std::vector<File> files_;
  uint64_t next_ms_ = 0;
};

const char* touch_action_name(TouchAction a);

}  // namespace uwsgi
