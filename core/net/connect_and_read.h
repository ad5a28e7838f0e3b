// --connect-and-read ADDR: connect to a socket (a unix path, or host:port), copy what it sends to
// stdout until it closes, and exit (how uWSGI reads a --py-tracebacker socket).
#pragma once

#include "host.h"

namespace uwsgi {

void register_connect_and_read_option(HostImpl& host);
// When the option is given: does it and returns true with the exit status in *rc.
bool connect_and_read_if_asked(const Config& cfg, int* rc);

}  // namespace uwsgi
