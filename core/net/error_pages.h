// uWSGI's --error-page-403, --error-page-404, --error-page-500: an HTML file whose content is
// the body of the server's own ("managed") answers with that status: no app loaded, the app
// raised, no such mountpoint, a refused static file. The app's own responses are left as they
// are (as in uWSGI 2.0.21). The files are read once at start-up; docs/static.md says more.
#pragma once

#include <string>

namespace uwsgi {

class Config;
class HostImpl;

void register_error_page_options(HostImpl& host);
// A missing or unreadable file stops start-up with a message naming the option.
bool read_error_pages(const Config& cfg, std::string* err);
// The page for status, or nullptr when none was given.
const std::string* error_page(int status);

}  // namespace uwsgi
