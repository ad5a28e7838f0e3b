// Plugin autoload: an option (or an engine name given to --io-engine, --loop-engine,
// --suspend-engine) that a shared plugin of this build provides loads that plugin, found through
// the NAME_plugin.options manifests of the plugin search path (read only when something is
// unknown, so a start that needs no plugin opens no .so and no manifest).
#pragma once

#include <string>
#include <vector>

#include "config/option_manifest.h"
#include "config/options.h"
#include "host.h"
#include "plugin_loader.h"

namespace uwsgi {

class PluginAutoloader final : public OptionResolver {
 public:
  PluginAutoloader(HostImpl& host, PluginLoader& loader) : host_(host), loader_(loader) {}
  bool prepare(const std::string& name, const std::string& value, std::string* err) override;
  std::vector<std::string> other_names() override;
  // One line per plugin loaded, for the log (written once logging is set up: --logto, --daemonize).
  const std::vector<std::string>& log_lines() const { return log_; }

 private:
  const std::vector<PluginManifest>& manifests();
  bool load(const PluginManifest& m, const std::string& why, std::string* err);
  bool prepare_engine(const std::string& kind, const std::string& value, std::string* err);
  bool engine_known(const std::string& kind, const std::string& value) const;

  HostImpl& host_;
  PluginLoader& loader_;
  bool read_ = false;
  std::vector<PluginManifest> manifests_;
  std::vector<std::string> log_;
};

// Manifests of the shared plugins of the search path that are not loaded (for --help).
std::vector<PluginManifest> manifests_not_loaded(PluginLoader& loader);

// `uwsgi --plugin-manifest PATH.so`: loads the plugin, prints its manifest (used by the build).
int print_plugin_manifest(HostImpl& host, PluginLoader& loader, const std::string& so_path);

}  // namespace uwsgi
