// Process-level options applied by main(): --daemonize and --honour-stdin (right after the options are read) and
// --uid/--gid (after the sockets are bound, so privileged ports work, before apps load).
#pragma once

#include <string>

#include "host.h"

namespace uwsgi {

// Fork into the background (the parent exits 0), setsid, log to the file. Not again when a
// reloading master re-executes itself (it is already a daemon).
bool daemonize_if_asked(const Config& cfg, std::string* err);
bool drop_privileges_if_asked(const Config& cfg, std::string* err);
// stdin becomes /dev/null (as in uWSGI: a worker must not read the terminal or a pipe meant for
// the master) unless --honour-stdin.
void remap_stdin_unless_honoured(const Config& cfg);

}  // namespace uwsgi
