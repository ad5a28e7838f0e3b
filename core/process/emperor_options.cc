// The Emperor's options (uWSGI's names) and their checked values.
#include <climits>

#include "config/values.h"
#include "process/emperor.h"

namespace uwsgi {

void register_emperor_options(HostImpl& host) {
  const OptArg R = OptArg::Required;
  host.add_option(make_option("emperor", 0, R,
                              "run the Emperor: one instance per vassal config file (.ini .xml .yaml .yml .json) "
                              "in this directory or glob (repeatable)"));
  host.add_option(make_option("emperor-freq", 0, R, "seconds between the Emperor's scans (default 3)", {}, true));
  host.add_option(make_option("emperor-throttle", 0, R,
                              "ms before respawning a vassal that died before its first request; doubles while it "
                              "keeps doing so (default 1000)", {}, true));
  host.add_option(make_option("emperor-max-throttle", 0, R,
                              "the longest respawn back-off of a failing vassal, in ms (default 180000)", {}, true));
  host.add_option(make_option("emperor-pidfile", 0, R, "write the Emperor's pid to this file"));
  host.add_option(make_option("emperor-procname", 0, R, "the Emperor's process name"));
  host.add_option(make_option("emperor-stats", 0, R,
                              "serve the Emperor's vassal table as JSON on this address", {"emperor-stats-server"}));
  host.add_option(make_option("emperor-extra-extension", 0, R,
                              "also run vassal files with this extension (read as ini; repeatable)",
                              {"emperor-extra-ext"}));
  host.add_option(make_option("vassals-inherit", 0, R,
                              "a config template every vassal reads before its own file (repeatable)"));
  host.add_option(make_option("vassals-include", 0, R,
                              "a config template every vassal reads after its own file (repeatable)"));
  host.add_option(make_option("vassal-set", 0, R, "set this option KEY=VALUE in every vassal (repeatable)",
                              {"vassals-set"}));
}

bool read_emperor_settings(const Config& cfg, const char* argv0, EmperorSettings* out, std::string* err) {
  EmperorSettings s;
  s.monitors = cfg.all("emperor");
  for (auto& m : s.monitors)
    if (m.empty()) {
      *err = "--emperor wants a directory or a glob";
      return false;
    }
  long long freq, throttle, max_throttle, mercy;
  if (!get_bounded(cfg, "emperor-freq", 3, 1, 3600, &freq, err) ||
      !get_bounded(cfg, "emperor-throttle", 1000, 1, 86400000, &throttle, err) ||
      !get_bounded(cfg, "emperor-max-throttle", 180000, 1, 86400000, &max_throttle, err) ||
      !get_bounded(cfg, "reload-mercy", 60, 0, 86400, &mercy, err))
    return false;
  s.freq_s = (int)freq;
  s.throttle_ms = (uint64_t)throttle;
  s.max_throttle_ms = (uint64_t)std::max(throttle, max_throttle);
  s.mercy_s = (int)mercy;
  s.die_on_term = cfg.get_bool("die-on-term");
  s.pidfile = cfg.get("emperor-pidfile");
  s.procname = cfg.get("emperor-procname");
  s.stats = cfg.get("emperor-stats");
  s.extra_ext = cfg.all("emperor-extra-extension");
  for (auto& e : s.extra_ext)
    if (e.empty() || e == ".") {
      *err = "--emperor-extra-extension wants an extension (\".conf\" or \"conf\")";
      return false;
    }
  s.inherit = cfg.all("vassals-inherit");
  s.include = cfg.all("vassals-include");
  s.set = cfg.all("vassal-set");
  for (auto& kv : s.set) {
    size_t eq = kv.find('=');
    if (eq == 0 || eq == std::string::npos) {
      *err = "--vassal-set wants KEY=VALUE, not \"" + kv + "\"";
      return false;
    }
  }
  s.self_argv0 = argv0;
  *out = std::move(s);
  return true;
}

}  // namespace uwsgi
