#pragma once
// The uWSGI version we are compatible with (uwsgi.version), and our own.
#define UWSGI_COMPAT_VERSION "2.0.21"
#define UWSGI_SERVER_VERSION "2.0.21-loopcore-0.1"
