// What SIGUSR1 and SIGUSR2 log (as in uWSGI: "print statistics", "print worker status"), read
// from the scoreboard. Nothing stops: the signals only report.
//
// Every function here is async-signal-safe (no allocation, no stdio, no locks: atomics and one
// write() per line to the log fd), because a worker calls them from its signal handler: its only
// thread may be deep inside a long request, and that is exactly when an operator asks.
#pragma once

namespace uwsgi {

// worker_id 0 = every worker (the master's view); otherwise only that worker.
// SIGUSR1: one line per worker: requests, exceptions, busy cores, average time, respawns.
void report_stats(int worker_id);
// SIGUSR2: one line per busy core (its request's URI and for how long), or "idle".
void report_cores(int worker_id);
// Shutdown/reload: one line per request still running, each starting with prefix
// ("waiting for", "killing"); returns how many there were.
int report_in_flight(int worker_id, const char* prefix);

}  // namespace uwsgi
