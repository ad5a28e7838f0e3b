// The --logto / --daemonize file's life: --log-truncate (emptied at start, not at a reload),
// --logfile-chmod and --logfile-chown (applied whenever the file is opened), and
// --touch-logreopen (the file is opened again by its path when a touched file's mtime changes:
// after logrotate renamed it, new lines go to a new file), --touch-logrotate (the server renames
// it itself, as --log-maxsize does, when a touched file's mtime changes).
#pragma once

#include <string>

#include <uwsgi/plugin.h>

namespace uwsgi {

class HostImpl;
void register_log_file_options(HostImpl& host);

// Before the log file is first opened: --log-truncate (not in check_only, not at a reload).
void truncate_log_if_asked(const Config& cfg, bool check_only);
// After it is open: checks the options, applies chmod/chown, arms --touch-logreopen. False with *err.
bool setup_log_file(const Config& cfg, bool check_only, std::string* err);

}  // namespace uwsgi
