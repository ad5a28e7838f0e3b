// Process limits set once in main() and inherited by the master's children: --max-fd
// (RLIMIT_NOFILE), --limit-as (RLIMIT_AS, MB), --limit-nproc (RLIMIT_NPROC), --prio (nice value),
// --never-swap (mlockall; memory locks are not inherited, so each child that runs app code locks
// its own again: relock_memory_if_asked).
#pragma once

#include <string>

#include "host.h"

namespace uwsgi {

// --limit-nproc, --prio, --never-swap (the older --max-fd and --limit-as are core_options.cc's).
void register_limit_options(HostImpl& host);
bool apply_process_limits(const Config& cfg, std::string* err);
// In a child after fork: mlockall again when --never-swap asked for it in the master.
bool relock_memory_if_asked(std::string* err);

}  // namespace uwsgi
