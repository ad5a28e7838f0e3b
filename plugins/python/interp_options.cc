// Options that shape the interpreter before it starts (interp.cc reads them into PyConfig):
// -O/--optimize (sys.flags.optimize), --no-site (no `import site`), --py-program-name (the
// program name CPython computes its prefix from) and --py-executable (sys.executable).
#include "py_opts.h"

namespace uwsgi::py {

InterpOpts interp_opts;

namespace {

using SetFn = std::function<bool(std::string_view, std::string*)>;

SetFn store(std::string* dst) {
  return [dst](std::string_view v, std::string*) {
    *dst = std::string(v);
    return true;
  };
}

}  // namespace

void register_interp_options(Host& host) {
  {
    OptionDef d;
    d.name = "optimize";
    d.short_name = 'O';
    d.help = "Python optimization level 0, 1 or 2 (as python -O / -OO: sys.flags.optimize; 1 drops asserts, 2 docstrings too)";
    d.numeric = true;
    d.on_set = [](std::string_view v, std::string* err) {
      if (v != "0" && v != "1" && v != "2") {
        *err = "--optimize must be 0, 1 or 2";
        return false;
      }
      interp_opts.optimize = v[0] - '0';
      return true;
    };
    host.add_option(std::move(d));
  }
  add_py_option(host, "no-site", OptArg::None, "do not import the site module at start-up (as python -S)",
                [](std::string_view v, std::string*) {
                  interp_opts.no_site = v != "false" && v != "0" && v != "no" && v != "off";
                  return true;
                });
  add_py_option(host, "py-program-name", OptArg::Required,
                "the program name CPython finds its prefix (stdlib) from (default /usr/bin/python3; --home's "
                "python in a venv)",
                store(&interp_opts.program_name), {"py-programname"});
  add_py_option(host, "py-executable", OptArg::Required, "the value of sys.executable",
                store(&interp_opts.executable), {"py-sys-executable"});
}

}  // namespace uwsgi::py
