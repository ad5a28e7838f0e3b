// Options about how requests are taken in and answered: --max-vars (how many variables a request
// may carry), --http-socket-modifier1/2 (the modifiers HTTP requests are routed by, where the
// uwsgi protocol carries its own), --disable-sendfile (files are copied through a buffer),
// --harakiri-no-arh (harakiri stops watching a request once its response is sent).
#pragma once

#include <string>

#include "host.h"
#include "net/connection.h"

namespace uwsgi {

void register_request_options(HostImpl& host);
bool read_request_settings(const Config& cfg, ServeSettings* out, std::string* err);

}  // namespace uwsgi
