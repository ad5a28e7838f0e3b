// --touch-reload, --touch-workers-reload, --touch-chain-reload, --touch-mules-reload, --touch-signal
// and --touch-exec: files whose modification time the master checks about once a second; a change
// asks for that kind of reload, raises that uWSGI signal or runs that command.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "host.h"

namespace uwsgi {

enum class TouchAction { kNone, kReload, kWorkersReload, kChainReload, kMulesReload, kSignal, kExec };

// A touch that asks for something other than a reload of the server or its workers.
struct TouchEvent {
  TouchAction action;   // kMulesReload, kSignal or kExec
  int signal = 0;       // kSignal: the uWSGI signal number
  std::string command;  // kExec: run by /bin/sh -c
};

// --touch-mules-reload, --touch-signal "FILE SIGNAL", --touch-exec "FILE COMMAND".
void register_touch_options(HostImpl& host);
// Bad "FILE SIGNAL" / "FILE COMMAND" values stop start-up (*err names the option).
bool check_touch_options(const Config& cfg, std::string* err);

class TouchWatcher {
 public:
  // Reads the three options and each file's current mtime (a missing file counts as "never
  // touched": creating it later is a touch, as in uWSGI).
  void configure(const Config& cfg);
  bool empty() const { return files_.empty(); }
  // At most once a second: the strongest reload a changed file asks for (kReload beats the
  // others); the other touches (mules reload, signal, command) are appended to *others.
  TouchAction poll(uint64_t now_ms, std::vector<TouchEvent>* others = nullptr);

 private:
  struct File {
    std::string path;
    TouchAction action;
    int64_t mtime_ns;
    TouchEvent event;  // for the touches that are no reload
  };
  static int64_t mtime_of(const std::string& path);
  std::vector<File> files_;
  uint64_t next_ms_ = 0;
};

const char* touch_action_name(TouchAction a);

}  // namespace uwsgi
