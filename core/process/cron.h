// uWSGI's cron: --cron/--unique-cron/--cron2 shell commands and uwsgi.add_cron() signals, run by
// the master at each minute whose local time matches (fields as in Signals::add_cron:
// -1 any, -N every N). A command runs in its own process (/bin/sh -c); a unique one is not
// started again while it still runs; cron-harakiri / harakiri= kills one that runs too long.
#pragma once

#include <sys/types.h>

#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include "host.h"

namespace uwsgi {

struct CronFields {
  int minute = -1, hour = -1, day = -1, month = -1, weekday = -1;
};

// Classic cron: when both day and weekday are restricted, either one matching is enough.
bool cron_matches(const CronFields& f, const struct tm& t);
// --cron / --unique-cron value: "MIN HOUR DAY MONTH WEEKDAY COMMAND".
bool parse_cron_line(const std::string& v, CronFields* f, std::string* command, std::string* err);
// --cron2 value: "key=value,... COMMAND" with minute, hour, day, month, week (weekday), unique,
// harakiri (seconds).
bool parse_cron2(const std::string& v, CronFields* f, std::string* command, bool* unique, int* harakiri_s,
                 std::string* err);

void register_cron_options(HostImpl& host);
// At start-up: parse every cron option (a bad one stops start-up naming it). check_only: parse only.
bool configure_cron(const Config& cfg, std::string* err);
// In the master.
void cron_add_signal(int num, const CronFields& f);
// Once per master loop iteration: runs what matches a minute not seen yet; route(num) raises a
// signal. Kills commands past their harakiri.
void cron_tick(const std::function<void(int)>& route);
// From the master's waitpid loop: true when pid was a cron command (now reaped).
bool cron_reaped(pid_t pid, int status);
// At shutdown: stop the commands still running (SIGTERM).
void cron_stop_all();

}  // namespace uwsgi
