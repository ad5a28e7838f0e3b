// The master's pid in files (--pidfile, --pidfile2, --safe-pidfile, --safe-pidfile2), and the
// commands that signal an instance through such a file (--stop, --reload, --pause, --suspend,
// --resume), as uWSGI has them.
#pragma once

#include <string>
#include <vector>

#include "host.h"

namespace uwsgi {

void register_pidfile_options(HostImpl& host);

// --stop/--reload/...: when one is given, signal the pid its file names and return true with the
// exit status in *rc (0 sent; 1 with a message naming the file when it cannot be read, names no
// pid or the process is gone). False when none is given (start the server).
bool signal_instance_if_asked(const Config& cfg, int* rc);

// "before" writes --pidfile and --safe-pidfile (as uWSGI: before --uid/--gid drop privileges, so
// a root-only directory such as /run works), "after" --pidfile2 and --safe-pidfile2. Not on a
// reload's re-exec: the pid is the same, and the master may no longer have the rights.
bool write_pidfiles(const Config& cfg, bool before_privileges_drop, bool reload_reexec, std::string* err);

// Every pidfile option's path (--vacuum removes them at exit).
std::vector<std::string> pidfile_paths(const Config& cfg);

}  // namespace uwsgi
