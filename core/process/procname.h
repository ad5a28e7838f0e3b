// Process titles as uWSGI sets them (--auto-procname, --procname, --procname-master,
// --procname-prefix[-spaced], --procname-append): "uWSGI master", "uWSGI worker 1", shown by `ps`
// (the argv area is overwritten) and by top/pgrep (prctl PR_SET_NAME, 15 bytes).
#pragma once

#include <string>

#include "host.h"

namespace uwsgi {

// In main(), once argv has been read and copied: makes the argv area writable for titles when an
// option asks for one (the environment strings beyond it move to the heap). Nothing otherwise.
void procname_init(const Config& cfg, int argc, char** argv);
// The master (worker_id 0) or worker N names itself; nothing when no option gives it a name.
void set_procname(const Config& cfg, int worker_id);
// Another process of the master names itself ("uWSGI mule 1") with --auto-procname (and the
// prefix / append options); nothing otherwise.
void set_procname_title(const std::string& title);
// This exact name, whatever the other options say (--emperor-procname).
void set_procname_exact(const std::string& title);

}  // namespace uwsgi
