#pragma once
#include "host.h"
#include "plugin_loader.h"

namespace uwsgi {
void register_core_options(HostImpl& host);
void print_help(HostImpl& host, PluginLoader& loader);
void print_help_markdown(HostImpl& host, PluginLoader& loader);
int run_build_plugin(const std::string& dir);  // execs uwsgiconfig.py --plugin DIR
}  // namespace uwsgi
