// A fake uwsgi::Host for unit tests, plus a loader for the real NAME_plugin.so files.
//
// Header-only (everything inline) so several test files can include it. Plugins are looked up in
// $UWSGI_TEST_PLUGIN_DIR if set, else in "<dir of the test binary>/out" when that exists (the
// output_dir of the asan/core profiles), else in the current directory (the repo root, where the
// default profile writes them).
#pragma once

#include <dlfcn.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <uwsgi/plugin.h>

namespace uwsgi_test {

// Options as (name, value) pairs, in order; later values win for get().
class FakeConfig : public uwsgi::Config {
 public:
  void set(std::string name, std::string value) { items_.emplace_back(std::move(name), std::move(value)); }

  bool has(std::string_view name) const override {
    for (auto& [n, v] : items_) {
      if (n == name) return true;
    }
    return false;
  }
  std::string get(std::string_view name, std::string_view def = {}) const override {
    for (auto it = items_.rbegin(); it != items_.rend(); ++it) {
      if (it->first == name) return it->second;
    }
    return std::string(def);
  }
  std::vector<std::string> all(std::string_view name) const override {
    std::vector<std::string> r;
    for (auto& [n, v] : items_) {
      if (n == name) r.push_back(v);
    }
    return r;
  }
  long long get_int(std::string_view name, long long def) const override {
    if (!has(name)) return def;
    std::string v = get(name);
    char* end = nullptr;
    long long n = strtoll(v.c_str(), &end, 10);
    return (v.empty() || *end) ? def : n;
  }
  bool get_bool(std::string_view name) const override {
    if (!has(name)) return false;
    std::string v = get(name);
    return !(v == "false" || v == "0" || v == "no" || v == "off");
  }
  std::vector<std::pair<std::string, std::string>> items() const override { return items_; }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

// Records everything a plugin registers; engines are built from the recorded factories.
// Engines never touch the signal framework; a fake that refuses everything keeps TestHost whole.
class NoSignals : public uwsgi::Signals {
 public:
  bool register_signal(int, std::string_view, uwsgi::SignalHandler*, void*, std::string* err) override {
    *err = "no signal framework in unit tests";
    return false;
  }
  bool registered(int) const override { return false; }
  bool raise(int, std::string* err) override {
    *err = "no signal framework in unit tests";
    return false;
  }
  bool add_timer(int, double, int, std::string* err) override {
    *err = "no signal framework in unit tests";
    return false;
  }
  bool add_file_monitor(int, const std::string&, std::string* err) override {
    *err = "no signal framework in unit tests";
    return false;
  }
  int wait(int, std::string* err) override {
    *err = "no signal framework in unit tests";
    return -1;
  }
  int received() const override { return -1; }
};

class TestHost : public uwsgi::Host {
 public:
  FakeConfig cfg;
  std::vector<uwsgi::OptionDef> options;
  std::map<std::string, uwsgi::Factory<uwsgi::SuspendEngine>> suspend_engines;
  std::map<std::string, uwsgi::Factory<uwsgi::IoEngine>> io_engines;
  std::map<std::string, uwsgi::Factory<uwsgi::LoopEngine>> loop_engines;
  std::map<int, uwsgi::AppHandler*> app_handlers;
  std::vector<uwsgi::SwitchHooks*> switch_hooks;
  std::vector<std::string> logs;
  bool stop_requested = false;

  const uwsgi::Config& config() const override { return cfg; }
  void log(const char* fmt, ...) override {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    logs.emplace_back(buf);
  }
  void add_option(uwsgi::OptionDef def) override { options.push_back(std::move(def)); }
  void add_app_handler(int modifier1, uwsgi::AppHandler* h) override { app_handlers[modifier1] = h; }
  void add_suspend_engine(std::string name, uwsgi::Factory<uwsgi::SuspendEngine> f) override {
    suspend_engines[std::move(name)] = std::move(f);
  }
  void add_io_engine(std::string name, uwsgi::Factory<uwsgi::IoEngine> f) override {
    io_engines[std::move(name)] = std::move(f);
  }
  void add_loop_engine(std::string name, uwsgi::Factory<uwsgi::LoopEngine> f) override {
    loop_engines[std::move(name)] = std::move(f);
  }
  void add_switch_hooks(uwsgi::SwitchHooks* h) override { switch_hooks.push_back(h); }
  int worker_id() const override { return 1; }
  int num_workers() const override { return 1; }
  uwsgi::LoopEngine* loop_engine() override { return nullptr; }
  uwsgi::SuspendEngine* suspend_engine() override { return nullptr; }
  const char* version() const override { return "test"; }
  void request_stop() override { stop_requested = true; }
  uwsgi::Signals& signals() override { return no_signals; }
  NoSignals no_signals;

  const uwsgi::OptionDef* find_option(const std::string& name) const {
    for (auto& o : options) {
      if (o.name == name) return &o;
    }
    return nullptr;
  }
};

inline std::string plugin_dir() {
  if (const char* d = getenv("UWSGI_TEST_PLUGIN_DIR"); d && *d) return d;
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = 0;
    std::string dir(exe);
    dir = dir.substr(0, dir.rfind('/')) + "/out";
    if (access(dir.c_str(), F_OK) == 0) return dir;
  }
  return ".";
}

// A loaded plugin .so. The library is never dlclose()d: engines it made may still be alive.
struct LoadedPlugin {
  const uwsgi::PluginInfo* info = nullptr;
  std::unique_ptr<uwsgi::Plugin> plugin;
  std::string path;
};

// Loads DIR/NAME_plugin.so and creates its Plugin; on failure returns false with a message that
// names the file and the reason.
inline bool load_plugin(const std::string& name, LoadedPlugin* out, std::string* err) {
  out->path = plugin_dir() + "/" + name + "_plugin.so";
  void* h = dlopen(out->path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* e = dlerror();
    *err = "cannot load " + out->path + " (build it with `/usr/bin/python3 uwsgiconfig.py --build default`" +
           " and run the tests from the repo root): " + (e ? e : "?");
    return false;
  }
  const std::string sym = name + "_uwsgi_plugin";
  auto* info = static_cast<const uwsgi::PluginInfo*>(dlsym(h, sym.c_str()));
  if (!info) {
    *err = out->path + " has no symbol " + sym;
    return false;
  }
  if (info->abi_version != UWSGI_PLUGIN_ABI_VERSION || std::string(info->build_id) != UWSGI_PLUGIN_BUILD_ID) {
    *err = out->path + " was built for another ABI (" + info->build_id + ")";
    return false;
  }
  out->info = info;
  out->plugin.reset(info->create());
  if (!out->plugin) {
    *err = out->path + ": create() returned null";
    return false;
  }
  return true;
}

}  // namespace uwsgi_test
