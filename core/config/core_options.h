#pragma once
#include <vector>

#include "config/option_manifest.h"
#include "host.h"
#include "plugin_loader.h"

namespace uwsgi {
void register_core_options(HostImpl& host);
// Every option: the registry's, then those of the shared plugins not loaded (from their manifests).
void print_help(HostImpl& host, PluginLoader& loader, const std::vector<PluginManifest>& others);
void print_help_markdown(HostImpl& host, PluginLoader& loader, const std::vector<PluginManifest>& others);
int run_build_plugin(const std::string& dir);  // execs uwsgiconfig.py --plugin DIR
}  // namespace uwsgi
