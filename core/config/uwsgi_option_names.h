// Is this one of uWSGI 2.0's option names? (An option this server may not have: see the .cc.)
#pragma once

#include <string_view>

namespace uwsgi {

bool is_uwsgi_option_name(std::string_view name);

}  // namespace uwsgi
