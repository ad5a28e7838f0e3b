// Options that tune uWSGI's HTTP router (--http), which this server does not have yet. In uWSGI
// they do nothing unless a router runs; so here they are accepted, do nothing, and say so in one
// warning line each. --http / --https themselves stay errors (core/config/uwsgi_option_names.cc).
#pragma once

#include "host.h"

namespace uwsgi {

void register_router_tuning_options(HostImpl& host);
// One warning line for each router tuning option given (call once the log is set up).
void warn_router_tuning_options(const Config& cfg);

}  // namespace uwsgi
