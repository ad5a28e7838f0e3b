// Process-level options applied by main(): --daemonize (right after the options are read) and
// --uid/--gid (after the sockets are bound, so privileged ports work, before apps load).
#pragma once

#include <string>

#include "host.h"

namespace uwsgi {

// Fork into the background (the parent exits 0), setsid, log to the file. Not again when a
// reloading master re-executes itself (it is already a daemon).
bool daemonize_if_asked(const Config& cfg, std::string* err);
bool drop_privileges_if_asked(const Config& cfg, std::string* err);
// A user (user=true) or group given by name or number; false with "unknown user ..." in *err.
bool parse_id(const std::string& v, bool user, unsigned* out, std::string* err);

}  // namespace uwsgi
