// --log-master: the workers hand their lines (and what the app writes to stdout/stderr) to the
// master through a datagram socket pair; a thread of the master takes them and its log writer
// writes them. Each datagram holds whole lines, so lines of several workers never interleave,
// whatever their length (up to --log-master-bufsize; a longer line is cut).
#pragma once

#include <string>

#include <uwsgi/plugin.h>

namespace uwsgi {

class HostImpl;
void register_log_output_options(HostImpl& host);

// Reads --log-master, --log-master-bufsize, --threaded-logger, --log-buffer-size; false with *err.
bool read_log_master(const Config& cfg, std::string* err);
// In the master, before the first worker: the socket pair and the receiving thread.
bool log_master_start(std::string* err);
// In a worker just forked by the master: its lines and its stdout/stderr go to the master.
void log_master_child();
// In the master before it execs or exits: waits (bounded) until the workers' last lines are taken
// and written.
void log_master_drain();

}  // namespace uwsgi
