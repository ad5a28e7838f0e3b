#include "plugin_autoload.h"

#include <unistd.h>

#include <cstdio>
#include <set>

#include "log/log.h"

namespace uwsgi {

const std::vector<PluginManifest>& PluginAutoloader::manifests() {
  if (!read_) {
    read_ = true;
    std::vector<std::string> warnings;
    manifests_ = read_manifests(loader_.search_dirs(), &warnings);
    for (auto& w : warnings) log_.push_back("ignoring a bad plugin manifest: " + w);
  }
  return manifests_;
}

bool PluginAutoloader::engine_known(const std::string& kind, const std::string& value) const {
  if (kind == "io-engine") return host_.io_engines().count(value) > 0;
  if (kind == "suspend-engine") return host_.suspend_engines().count(value) > 0;
  return value == "sync" || value == "async" || host_.loop_engines().count(value) > 0;
}

bool PluginAutoloader::load(const PluginManifest& m, const std::string& why, std::string* err) {
  if (access(m.so_path.c_str(), R_OK) != 0) {
    *err = why + " belongs to plugin \"" + m.plugin + "\" (says " + m.manifest_path + "), but " + m.so_path +
           " is missing: rebuild the plugin, or remove the stale manifest";
    return false;
  }
  size_t before = loader_.plugins().size();
  // At the front (after the built-ins), as if it had been named first in --plugins.
  if (!loader_.load(m.so_path, err, /*front=*/true)) return false;
  if (loader_.plugins().size() == before) return true;  // already loaded (under another path)
  LoadedPlugin* p = loader_.find(m.plugin);
  if (!p) {
    *err = m.so_path + " does not provide plugin \"" + m.plugin + "\" as " + m.manifest_path +
           " says: rebuild the plugin (its manifest is stale)";
    return false;
  }
  host_.set_registering_group(p->name);
  p->plugin->on_register(host_);
  host_.set_registering_group("core");
  if (!host_.registration_error().empty()) {
    *err = host_.registration_error();
    return false;
  }
  log_.push_back("plugin " + m.plugin + " loaded for " + why + " (" + m.so_path + ")");
  return true;
}

bool PluginAutoloader::prepare_engine(const std::string& kind, const std::string& value, std::string* err) {
  if (value.empty() || engine_known(kind, value)) return true;
  for (auto& m : manifests()) {
    if (!m.owns_engine(kind, value) || loader_.loaded(m.plugin)) continue;
    if (!load(m, "--" + kind + " " + value, err)) return false;
    break;
  }
  return true;  // still unknown: choose_engines names it
}

bool PluginAutoloader::prepare(const std::string& name, const std::string& value, std::string* err) {
  const RegisteredOption* o = host_.registry().find(name);
  if (!o) {
    for (auto& m : manifests()) {
      if (!m.owns_option(name)) continue;
      if (loader_.loaded(m.plugin)) {
        *err = "plugin \"" + m.plugin + "\" is loaded but has no option --" + name + ", though " + m.manifest_path +
               " says so: rebuild the plugin (its manifest is stale)";
        return false;
      }
      if (!load(m, "--" + name, err)) return false;
      o = host_.registry().find(name);
      if (!o) {
        *err = "plugin \"" + m.plugin + "\" (" + m.so_path + ") has no option --" + name + ", though " +
               m.manifest_path + " says so: rebuild the plugin (its manifest is stale)";
        return false;
      }
      break;
    }
    if (!o) return true;  // nobody owns it: the parser reports it
  }
  // Engine names, given directly or implied by a shortcut option (--gevent implies --loop-engine).
  const std::string& canonical = o->def.name;
  if (canonical == "io-engine" || canonical == "suspend-engine" || canonical == "loop-engine")
    return prepare_engine(canonical, value, err);
  std::vector<std::pair<std::string, std::string>> implies = o->def.implies;  // o may move as plugins load
  for (auto& imp : implies)
    if ((imp.first == "io-engine" || imp.first == "suspend-engine" || imp.first == "loop-engine") &&
        !prepare_engine(imp.first, imp.second, err))
      return false;
  return true;
}

std::vector<std::string> PluginAutoloader::other_names() {
  std::vector<std::string> names;
  for (auto& m : manifests())
    for (auto& o : m.options) names.push_back(o.name);
  return names;
}

std::vector<PluginManifest> manifests_not_loaded(PluginLoader& loader) {
  std::vector<PluginManifest> out;
  for (auto& m : read_manifests(loader.search_dirs(), nullptr))
    if (!loader.loaded(m.plugin)) out.push_back(std::move(m));
  return out;
}

int print_plugin_manifest(HostImpl& host, PluginLoader& loader, const std::string& so_path) {
  std::string err;
  auto names = [](const auto& engines) {
    std::set<std::string> s;
    for (auto& e : engines) s.insert(e.first);
    return s;
  };
  auto io = names(host.io_engines()), sus = names(host.suspend_engines()), loop = names(host.loop_engines());
  size_t before = loader.plugins().size();
  if (!loader.load(so_path, &err)) {
    fprintf(stderr, "uwsgi: %s\n", err.c_str());
    return 1;
  }
  if (loader.plugins().size() == before) {
    fprintf(stderr, "uwsgi: %s: a plugin of that name is built into this binary\n", so_path.c_str());
    return 1;
  }
  LoadedPlugin& p = loader.plugins().back();
  host.set_registering_group(p.name);
  p.plugin->on_register(host);
  if (!host.registration_error().empty()) {
    fprintf(stderr, "uwsgi: %s\n", host.registration_error().c_str());
    return 1;
  }
  std::vector<const RegisteredOption*> opts;
  for (auto& o : host.registry().all())
    if (o.group == p.name) opts.push_back(&o);
  std::vector<std::pair<std::string, std::string>> engines;
  for (auto& e : host.io_engines())
    if (!io.count(e.first)) engines.emplace_back("io-engine", e.first);
  for (auto& e : host.suspend_engines())
    if (!sus.count(e.first)) engines.emplace_back("suspend-engine", e.first);
  for (auto& e : host.loop_engines())
    if (!loop.count(e.first)) engines.emplace_back("loop-engine", e.first);
  fputs(format_manifest(p.name, opts, engines).c_str(), stdout);
  return 0;
}

}  // namespace uwsgi
