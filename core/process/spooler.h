// uWSGI's spooler: --spooler DIR (several), --spooler-processes N (per dir), --spooler-frequency,
// --spooler-max-tasks, --spooler-ordered, --spooler-harakiri. Tasks are spool files in uWSGI's
// format (a uwsgi packet of vars, modifier1 17, then the body), written to a hidden temp name and
// renamed, so a crash never leaves half a task. The master forks the spooler processes once the
// apps are loaded, respawns one that dies (with supervised_process.h's back-off while it dies young), stops them with the
// workers. A task's file is deleted only when it returns SPOOL_OK: a killed spooler loses nothing.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "host.h"
#include "process/supervised_process.h"
#include "process/stats.h"

namespace uwsgi {

void register_spooler_options(HostImpl& host);
// At start-up, before any fork: parse the options, make the dirs. check_only: parse only.
bool configure_spoolers(const Config& cfg, bool check_only, std::string* err);
Spooler& shared_spooler();

// Spool file format (exposed for the unit test).
bool encode_spool_file(const SpoolTask& t, std::string* out, std::string* err);
bool decode_spool_file(std::string_view data, SpoolTask* t, std::string* err);

// Master side.
void spoolers_spawn_all();
void spoolers_tick(uint64_t now_ms);
bool spoolers_reaped(pid_t pid, int status, bool respawn);  // true when pid was a spooler
void spoolers_signal_all(int sig);
int spoolers_alive();
void spoolers_stats(std::vector<SupervisedStat>* out);  // --stats: each spooler process
// uwsgi signal target "spooler" (or "spoolers"): every spooler process runs num's handler between
// two tasks (or at once when it is idle).
bool spoolers_route_signal(int num, std::string* err);
// For --stats: one entry per dir (counts the waiting spool files).
std::vector<SpoolerStat> spoolers_stats();

}  // namespace uwsgi
