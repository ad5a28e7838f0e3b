// uWSGI's hooks: --hook-PHASE ACTION:ARGS (and the older --exec-PHASE CMD) run at named points of
// start-up and shutdown. A failing hook of a fatal phase stops the instance with a message naming
// the option and the hook.
#pragma once

#include <map>
#include <string>

#include "host.h"

namespace uwsgi {

void register_hook_options(HostImpl& host);
// Every hook's action is known (a typo stops start-up naming the option); before any runs.
bool check_hooks(const Config& cfg, std::string* err);
// Runs --hook-PHASE then --exec-PHASE in order. False (with *err) when one fails in a fatal phase;
// in the other phases a failure is logged and the rest run.
bool run_hooks(const Config& cfg, const char* phase, std::string* err);

// unix_signal:N HANDLER hooks that have run (in this process): what the master does on signal N
// instead of its default. HANDLER is one of gracefully_kill_them_all, kill_them_all, reload,
// brutally_reload (the Docker line: hook-master-start = unix_signal:15 gracefully_kill_them_all).
const std::map<int, std::string>& unix_signal_actions();

}  // namespace uwsgi
