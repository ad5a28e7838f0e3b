// Checks of option values that are more than "is a number": a bounded integer, a socket address.
// One place for each kind, so every option (and every plugin) refuses the same bad input with the
// same kind of message, which names the option.
#pragma once

#include <string>
#include <string_view>

#include <uwsgi/plugin.h>

namespace uwsgi {

// A whole number written in decimal digits only (no sign, no space, nothing after it) that fits
// in a long long: the rule for every option declared numeric (none of them means anything < 0).
bool parse_count(std::string_view v, long long* out);

// --name as an integer in [lo, hi] (def when not given); false and *err naming it otherwise.
bool get_bounded(const Config& cfg, const char* name, long long def, long long lo, long long hi, long long* out,
                 std::string* err);

// "host:port", ":port", "[v6]:port" or a unix path (anything with a '/' or without a ':'): the
// port must be decimal digits in 0..65535 (getaddrinfo would take 99999 as 34463).
bool check_socket_address(const std::string& spec, std::string* err);

}  // namespace uwsgi
