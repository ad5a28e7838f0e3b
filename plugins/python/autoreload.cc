// --py-autoreload N (development): every N seconds a thread of worker 1 compares the mtime of
// every loaded module's file with the one it first saw; on a change it logs the file and asks
// the master for a graceful reload (SIGHUP), which re-executes the server, so the new code is
// imported. As in uWSGI the option implies --master. --py-autoreload-ignore MODULE skips one.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <thread>
#include <unordered_map>

#include "py_opts.h"

namespace uwsgi::py {
namespace {

long long interval_s = 0;
std::set<std::string> ignored;

// The files of the loaded modules (GIL taken here), skipping --py-autoreload-ignore'd ones.
std::vector<std::string> module_files() {
  std::vector<std::string> files;
  PyGILState_STATE st = PyGILState_Ensure();
  PyObject* mods = PySys_GetObject("modules");  // borrowed
  PyObject* items = mods && PyDict_Check(mods) ? PyDict_Items(mods) : nullptr;
  for (Py_ssize_t i = 0; items && i < PyList_GET_SIZE(items); i++) {
    PyObject* pair = PyList_GET_ITEM(items, i);
    const char* name = PyUnicode_Check(PyTuple_GET_ITEM(pair, 0)) ? PyUnicode_AsUTF8(PyTuple_GET_ITEM(pair, 0)) : nullptr;
    if (!name || ignored.count(name)) continue;
    PyObject* file = PyObject_GetAttrString(PyTuple_GET_ITEM(pair, 1), "__file__");
    if (file && PyUnicode_Check(file))
      if (const char* f = PyUnicode_AsUTF8(file)) {
        std::string path(f);
        if (path.size() > 4 && path.compare(path.size() - 4, 4, ".pyc") == 0) path.pop_back();
        files.push_back(std::move(path));
      }
    Py_XDECREF(file);
    PyErr_Clear();
  }
  Py_XDECREF(items);
  PyErr_Clear();
  PyGILState_Release(st);
  return files;
}

void watch(pid_t master) {
  std::unordered_map<std::string, struct timespec> seen;
  for (;;) {
    for (auto& path : module_files()) {
      struct stat st;
      if (stat(path.c_str(), &st) != 0) continue;
      auto it = seen.find(path);
      if (it == seen.end()) {
        seen.emplace(path, st.st_mtim);
      } else if (it->second.tv_sec != st.st_mtim.tv_sec || it->second.tv_nsec != st.st_mtim.tv_nsec) {
        // Only our master: after it died the parent is init (or a subreaper), not to be signalled.
        if (getppid() != master) return;
        log_line("[uwsgi-python-reloader] module/file %s has been modified: reloading", path.c_str());
        kill(master, SIGHUP);  // the master reloads gracefully
        return;
      }
    }
    std::this_thread::sleep_for(std::chrono::seconds(interval_s));
  }
}

}  // namespace

void register_autoreload_options(Host& host) {
  add_py_option(host, "py-autoreload", OptArg::Required,
                "every N seconds, reload gracefully if a loaded module's file changed (development; implies --master)",
                [](std::string_view v, std::string* err) {
                  std::string s(v);
                  char* end = nullptr;
                  interval_s = strtoll(s.c_str(), &end, 10);
                  if (s.empty() || *end != 0 || interval_s < 0 || interval_s > 86400) {
                    *err = "wants seconds between checks (0..86400), not \"" + s + "\"";
                    return false;
                  }
                  return true;
                },
                {"py-auto-reload", "python-autoreload", "python-auto-reload"}, {{"master", "true"}});
  add_py_option(host, "py-autoreload-ignore", OptArg::Required, "a module (by name) --py-autoreload does not watch",
                [](std::string_view v, std::string*) {
                  ignored.emplace(v);
                  return true;
                },
                {"py-auto-reload-ignore"});
}

void autoreload_start(int worker_id) {
  if (interval_s <= 0 || worker_id != 1) return;  // one watcher is enough: the master reloads them all
  if (!g.host->config().get_bool("master")) {
    log_line("python: --py-autoreload needs the master (--master) to reload: not watching");
    return;
  }
  log_line("python auto-reloader enabled (every %lld s)", interval_s);
  std::thread(watch, getppid()).detach();
}

}  // namespace uwsgi::py
