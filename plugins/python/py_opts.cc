// Registration of the python plugin's uWSGI options that live in their own files (mounts.cc,
// post_buffer.cc, autoreload.cc), and the small flags about write errors and file_wrapper.
#include "py_opts.h"

namespace uwsgi::py {

WriteErrorOpts write_opts;

void add_py_option(Host& host, const char* name, OptArg arg, const char* help,
                   std::function<bool(std::string_view, std::string*)> on_set, std::vector<std::string> aliases,
                   std::vector<std::pair<std::string, std::string>> implies) {
  OptionDef d;
  d.name = name;
  d.arg = arg;
  d.help = help;
  d.on_set = std::move(on_set);
  d.aliases = std::move(aliases);
  d.implies = std::move(implies);
  host.add_option(std::move(d));
}

void register_py_options(Host& host) {
  register_mount_options(host);
  register_post_buffer_options(host);
  register_autoreload_options(host);
  register_websocket_options(host);
  register_interp_options(host);
  register_wsgi_options(host);
  register_reload_on_exception_options(host);
  register_tracebacker_option(host);
  register_pyrun_option(host);
  add_py_option(host, "wsgi-disable-file-wrapper", OptArg::None, "no wsgi.file_wrapper in the environ");
  add_py_option(host, "disable-write-exception", OptArg::None,
                "write() to a client that went away returns None instead of raising (the app goes on)");
  add_py_option(host, "ignore-write-errors", OptArg::None, "do not log responses cut short by a client that went away");
  add_py_option(host, "ignore-sigpipe", OptArg::None,
                "accepted for compatibility: SIGPIPE is always ignored and never logged (see --ignore-write-errors)");
}

void write_opts_configure(const Config& c) {
  write_opts.disable_file_wrapper = c.get_bool("wsgi-disable-file-wrapper");
  write_opts.disable_write_exception = c.get_bool("disable-write-exception");
  write_opts.ignore_write_errors = c.get_bool("ignore-write-errors");
}

}  // namespace uwsgi::py
