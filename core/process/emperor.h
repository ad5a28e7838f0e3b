// --emperor: this process runs no app; it runs one instance of this server per vassal config file
// its monitors find (a directory, or a glob), as uWSGI's Emperor does:
//   found        -> started: `<self> --ini FILE` (--xml, --yaml, --json by extension) in FILE's
//                   directory, with UWSGI_EMPEROR_FD (emperor_link.h) and UWSGI_VASSAL_X -> UWSGI_X
//   mtime change -> told to reload (gracefully, after its own config check)
//   removed      -> told to stop; killed after --reload-mercy
//   died         -> respawned, after a growing back-off (--emperor-throttle .. --emperor-max-throttle)
//                   while it keeps dying before its first request
//   SIGINT/QUIT  -> every vassal told to stop; the Emperor exits once all are gone
// Vassals never outlive the Emperor: they get SIGINT when it dies (PR_SET_PDEATHSIG) and stop when
// their socket to it closes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "host.h"

namespace uwsgi {

struct EmperorSettings {
  std::vector<std::string> monitors;   // --emperor: directories or globs
  std::vector<std::string> extra_ext;  // --emperor-extra-extension (".conf"): read as ini
  int freq_s = 3;                      // --emperor-freq: seconds between scans
  uint64_t throttle_ms = 1000;         // --emperor-throttle: the first back-off
  uint64_t max_throttle_ms = 180000;   // --emperor-max-throttle
  int mercy_s = 60;                    // --reload-mercy: a stopping vassal gets this long
  bool die_on_term = false;            // SIGTERM stops (else it reloads every vassal)
  std::string pidfile, procname, stats;
  bool stats_http = false;
  std::vector<std::string> inherit;    // --vassals-inherit: templates read before the vassal file
  std::vector<std::string> include;    // --vassals-include: templates read after it
  std::vector<std::string> set;        // --vassal-set KEY=VALUE: options added to every vassal
  std::string self_argv0;              // argv[0] the vassals get
};

void register_emperor_options(HostImpl& host);
// Bad values stop start-up with a message naming the option.
bool read_emperor_settings(const Config& cfg, const char* argv0, EmperorSettings* out, std::string* err);
// Runs until SIGINT/SIGQUIT (or SIGTERM with --die-on-term); returns the exit code.
int run_emperor(const EmperorSettings& s);

// One vassal config file a monitor found.
struct VassalFile {
  std::string path;     // as found (absolute when the monitor is)
  std::string monitor;  // the --emperor value that found it
  int64_t mtime_ns = 0;
};
// Every vassal file the monitors find now, by id (its file name: uWSGI's vassal name); when two
// monitors find the same name, the first one's wins.
std::map<std::string, VassalFile> scan_vassals(const EmperorSettings& s);
// The option that loads a vassal file ("ini", "xml", "yaml", "json"), or "" when its extension is
// none the Emperor runs.
std::string vassal_config_option(const std::string& path, const std::vector<std::string>& extra_ext);

}  // namespace uwsgi
