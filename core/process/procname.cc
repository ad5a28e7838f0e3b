#include "process/procname.h"

#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

extern char** environ;

namespace uwsgi {

static const Config* g_cfg = nullptr;  // main()'s, for processes named without one at hand
static char* g_area = nullptr;  // argv[0] .. the end of the last argv/environ string
static size_t g_area_len = 0;

static bool wants_names(const Config& cfg) {
  return cfg.get_bool("auto-procname") || cfg.has("procname") || cfg.has("procname-master") ||
         cfg.has("emperor-procname");
}

void procname_init(const Config& cfg, int argc, char** argv) {
  g_cfg = &cfg;
  if (!wants_names(cfg) || argc < 1 || !argv[0] || g_area) return;
  char* end = argv[0] + strlen(argv[0]) + 1;
  for (int i = 1; i < argc; i++)
    if (argv[i] == end) end = argv[i] + strlen(argv[i]) + 1;
  size_t n = 0;
  while (environ && environ[n]) n++;
  // The environment usually follows argv: copy it out before the title may overwrite it.
  char** env = new char*[n + 1];
  for (size_t i = 0; i < n; i++) {
    if (environ[i] == end) end = environ[i] + strlen(environ[i]) + 1;
    env[i] = strdup(environ[i]);
  }
  env[n] = nullptr;
  environ = env;
  g_area = argv[0];
  g_area_len = (size_t)(end - argv[0]);
}

// The prefix and suffix options around base, written where ps and top read it.
static void apply_title(const Config& cfg, const std::string& base) {
  if (base.empty()) return;
  std::string name = cfg.get("procname-prefix");
  if (cfg.has("procname-prefix-spaced")) name += cfg.get("procname-prefix-spaced") + " ";
  name += base + cfg.get("procname-append");
  prctl(PR_SET_NAME, name.c_str());  // the kernel keeps the first 15 bytes
  if (!g_area || g_area_len < 2) return;
  size_t n = std::min(name.size(), g_area_len - 1);
  memcpy(g_area, name.data(), n);
  memset(g_area + n, 0, g_area_len - n);
}

void set_procname(const Config& cfg, int worker_id) {
  std::string base;
  if (worker_id == 0 && cfg.has("procname-master")) base = cfg.get("procname-master");
  else if (cfg.has("procname")) base = cfg.get("procname");
  else if (cfg.get_bool("auto-procname"))
    base = worker_id == 0 ? "uWSGI master" : "uWSGI worker " + std::to_string(worker_id);
  apply_title(cfg, base);
}

void set_procname_exact(const std::string& title) {
  prctl(PR_SET_NAME, title.c_str());
  if (!g_area || g_area_len < 2) return;
  size_t n = std::min(title.size(), g_area_len - 1);
  memcpy(g_area, title.data(), n);
  memset(g_area + n, 0, g_area_len - n);
}

void set_procname_title(const std::string& title) {
  if (g_cfg && g_cfg->get_bool("auto-procname")) apply_title(*g_cfg, title);
}

}  // namespace uwsgi
