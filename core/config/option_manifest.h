// Per-plugin option manifests: NAME_plugin.options, written beside NAME_plugin.so at build time
// (uwsgiconfig.py runs `uwsgi --plugin-manifest NAME_plugin.so`). They say which options and
// engines a shared plugin provides, so an option nobody registered can load its plugin without
// dlopening every .so of the search path, and --help can list options of plugins not loaded.
//
// Format (text, one record a line, fields separated by tabs; '#' lines are comments):
//   plugin  NAME
//   option  NAME  ARG(none|required|optional)  NUMERIC(0|1)  SHORT(char or -)  ALIASES(a,b or -)  HELP
//   engine  KIND(io-engine|suspend-engine|loop-engine)  NAME
#pragma once

#include <uwsgi/plugin.h>

#include <string>
#include <utility>
#include <vector>

namespace uwsgi {

struct RegisteredOption;

struct PluginManifest {
  std::string plugin;         // NAME
  std::string manifest_path;  // DIR/NAME_plugin.options
  std::string so_path;        // DIR/NAME_plugin.so (may be missing: a stale manifest)
  std::vector<OptionDef> options;  // no on_set / implies: for lookup and --help only
  std::vector<std::pair<std::string, std::string>> engines;  // (kind, name)

  // `name` as given (dashes or underscores) is one of the options or their aliases.
  bool owns_option(const std::string& name) const;
  bool owns_engine(const std::string& kind, const std::string& name) const;
};

std::string manifest_path_for(const std::string& so_path);  // x_plugin.so -> x_plugin.options

// The manifest text of `plugin`: its options (in registration order) and engines.
std::string format_manifest(const std::string& plugin, const std::vector<const RegisteredOption*>& options,
                            const std::vector<std::pair<std::string, std::string>>& engines);

// Parses one manifest; false + *err (naming the file and line) when malformed.
bool parse_manifest(const std::string& text, const std::string& path, PluginManifest* out, std::string* err);

// Every NAME_plugin.options in dirs (the plugin search path, in order: the first one of a name
// wins, as for the .so). Unreadable or malformed files are skipped with a line in *warnings.
std::vector<PluginManifest> read_manifests(const std::vector<std::string>& dirs, std::vector<std::string>* warnings);

}  // namespace uwsgi
