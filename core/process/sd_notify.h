// systemd's service notification (sd_notify(3)) without libsystemd: when NOTIFY_SOCKET names a
// unix datagram socket (a path, or "@name" for the abstract namespace), state lines such as
// "READY=1", "RELOADING=1", "STOPPING=1" and "STATUS=..." are sent to it; otherwise nothing
// happens. Who sends what: the master (ready once its workers have loaded their apps, reloading,
// stopping), a master-less worker (ready), the Emperor (ready, the vassal count). A vassal never
// talks to systemd: the Emperor takes NOTIFY_SOCKET out of its environment.
#pragma once

#include <string>

namespace uwsgi {

// True when NOTIFY_SOCKET is set (and not empty).
bool sd_notify_enabled();
// Sends one datagram with `state` (newline-separated KEY=VALUE lines). Failures are logged once
// per process and otherwise ignored: the server serves without its supervisor's bookkeeping.
void sd_notify(const std::string& state);

}  // namespace uwsgi
