// The core's side of the plugin API: registries of options, engines and app handlers, and the
// per-process facts plugins may ask for. Plugins see it only as uwsgi::Host.
#pragma once

#include <uwsgi/plugin.h>

#include <map>
#include <string>
#include <vector>

#include "config/options.h"

namespace uwsgi {

class HostImpl : public Host {
 public:
  const Config& config() const override { return config_; }
  void log(const char* fmt, ...) override __attribute__((format(printf, 2, 3)));
  void add_option(OptionDef def) override;
  void add_app_handler(int modifier1, AppHandler* handler) override { handlers_[modifier1] = handler; }
  void add_suspend_engine(std::string name, Factory<SuspendEngine> f) override { suspend_[name] = std::move(f); }
  void add_io_engine(std::string name, Factory<IoEngine> f) override { io_[name] = std::move(f); }
  void add_loop_engine(std::string name, Factory<LoopEngine> f) override { loop_[name] = std::move(f); }
  void add_switch_hooks(SwitchHooks* hooks) override { hooks_.push_back(hooks); }
  int worker_id() const override { return worker_id_; }
  int num_workers() const override { return num_workers_; }
  LoopEngine* loop_engine() override { return loop_engine_; }
  SuspendEngine* suspend_engine() override { return suspend_engine_; }
  const char* version() const override;
  void request_stop() override;
  Signals& signals() override;
  Locks& locks() override;
  Caches& caches() override;
  Mules& mules() override;
  Spooler& spooler() override;

  // Core-side access.
  OptionRegistry& registry() { return registry_; }
  ConfigStore& store() { return config_; }
  void set_registering_group(std::string g) { group_ = std::move(g); }
  // Errors from add_option (name clashes) are collected and reported at start-up.
  const std::string& registration_error() const { return registration_error_; }
  AppHandler* app_handler(int modifier1) const {
    auto it = handlers_.find(modifier1);
    return it == handlers_.end() ? nullptr : it->second;
  }
  const std::map<std::string, Factory<SuspendEngine>>& suspend_engines() const { return suspend_; }
  const std::map<std::string, Factory<IoEngine>>& io_engines() const { return io_; }
  const std::map<std::string, Factory<LoopEngine>>& loop_engines() const { return loop_; }
  const std::vector<SwitchHooks*>& switch_hooks() const { return hooks_; }
  void set_worker(int id, int n) { worker_id_ = id; num_workers_ = n; }
  void set_engines(LoopEngine* l, SuspendEngine* s) { loop_engine_ = l; suspend_engine_ = s; }
  void set_stop_callback(void (*cb)()) { stop_cb_ = cb; }

 private:
  ConfigStore config_;
  OptionRegistry registry_;
  std::string group_ = "core";
  std::string registration_error_;
  std::map<int, AppHandler*> handlers_;
  std::map<std::string, Factory<SuspendEngine>> suspend_;
  std::map<std::string, Factory<IoEngine>> io_;
  std::map<std::string, Factory<LoopEngine>> loop_;
  std::vector<SwitchHooks*> hooks_;
  int worker_id_ = 0, num_workers_ = 1;
  LoopEngine* loop_engine_ = nullptr;
  SuspendEngine* suspend_engine_ = nullptr;
  void (*stop_cb_)() = nullptr;
};

// Block hooks of every language plugin, around a wait that may block the process.
struct BlockGuard {
  explicit BlockGuard(const std::vector<SwitchHooks*>& h) : hooks(h) {
    for (auto* x : hooks) x->before_block();
  }
  ~BlockGuard() {
    for (auto it = hooks.rbegin(); it != hooks.rend(); ++it) (*it)->after_block();
  }
  const std::vector<SwitchHooks*>& hooks;
};

}  // namespace uwsgi
