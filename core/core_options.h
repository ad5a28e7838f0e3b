#pragma once
#include "host.h"
#include "plugin_loader.h"

namespace uwsgi {
void register_core_options(HostImpl& host);
void print_help(HostImpl& host, PluginLoader& loader);
}  // namespace uwsgi
