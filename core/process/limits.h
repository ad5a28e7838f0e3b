// --max-fd (RLIMIT_NOFILE) and --limit-as (RLIMIT_AS, MB): set once in main(), inherited by the
// master's workers.
#pragma once

#include <string>

#include "host.h"

namespace uwsgi {

bool apply_process_limits(const Config& cfg, std::string* err);

}  // namespace uwsgi
