// The options that make shared state (--locks, --cache2, --cache, ...) and the objects they make,
// which the Host hands to plugins (Host::locks(), Host::caches()).
#pragma once

#include <uwsgi/plugin.h>

#include <vector>

#include "process/stats.h"

namespace uwsgi {

class HostImpl;

void register_shared_options(HostImpl& host);
// In the master (or the only process) before apps load and before any fork. check_only (a
// reload's dry run) validates the values and maps nothing.
bool setup_shared_state(const Config& cfg, bool check_only, std::string* err);
Locks& shared_locks();
Caches& shared_caches();
std::vector<CacheStat> caches_stats();  // for --stats

}  // namespace uwsgi
