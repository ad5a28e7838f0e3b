// --log-maxsize / --log-backupname: when the --logto file reaches the size, it is renamed and a
// new one opened. Every process writes to the file itself, so each checks after its own writes
// (an fstat); the first to see it full renames it under an flock, the others notice that the path
// is a new file and reopen it (at most one line each lands in the backup after the rename).
#pragma once

#include <string>

#include <uwsgi/plugin.h>

namespace uwsgi {

// --log-maxsize and --log-backupname (after --logto is open); false with *err naming the option.
bool read_log_rotation(const Config& cfg, std::string* err);
void set_log_rotation(const std::string& path, long long maxsize, const std::string& backup_name);
extern bool g_log_rotation;  // set_log_rotation was called: checked after each write
void rotate_log_if_full(int fd);
// force: rotate whatever the size (--touch-logrotate); else only when full.
void rotate_log(int fd, bool force);

}  // namespace uwsgi
