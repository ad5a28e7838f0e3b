// uWSGI's mules: --mule [SCRIPT] (each one more mule), --mules N, --farm NAME:ID,ID.., message
// queues (one datagram socket pair per mule, one shared by all, one per farm) made before any
// fork. The master spawns the mules once the apps are loaded, respawns one that dies (with the
// back-off of supervised_process.h while it keeps dying young), and stops them with the workers.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include <vector>

#include "host.h"
#include "process/supervised_process.h"
#include "process/stats.h"

namespace uwsgi {

void register_mule_options(HostImpl& host);
// At start-up, before any fork: parse the options, make the queues. check_only: parse only.
bool configure_mules(const Config& cfg, bool check_only, std::string* err);
Mules& shared_mules();

// Master side.
void mules_spawn_all();
void mules_tick(uint64_t now_ms);          // respawn the dead ones when due
bool mules_reaped(pid_t pid, int status, bool respawn);  // true when pid was a mule
void mules_signal_all(int sig);
int mules_alive();
void mules_stats(std::vector<SupervisedStat>* out);  // --stats: each mule's process
// uwsgi signal targets "mule" (any one mule), "mules" (all), "muleN". The master queues num for
// the mule(s); a mule runs it while it waits in mule_get_msg() (a plain mule always does).
bool mule_signal_target(std::string_view target);
bool mules_route_signal(std::string_view target, int num, std::string* err);
// For --stats (reads the shared counters; any process).
std::vector<MuleStat> mules_stats();

}  // namespace uwsgi
