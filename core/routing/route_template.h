// An action or condition argument with request variables in it, split once at start-up:
//   ${NAME}          a request variable (PATH_INFO, REQUEST_URI, HTTP_HOST, ...; empty if absent)
//   $0..$9           a group of the last regexp that matched (the rule's own, or route-if regexp)
//   ${qs[KEY]}       an item of QUERY_STRING            ${cookie[NAME]}   a cookie of the request
//   ${time[unix]}    the epoch                          ${httptime[N]}    an HTTP date N s from now
//   ${uwsgi[pid]}    ${uwsgi[wid]}  ${uwsgi[status]}    ${hex[VAR]}  ${base64[VAR]}  a var, encoded
// Expanding walks the pieces; nothing is parsed per request.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "net/request_head.h"
#include "routing/route_regex.h"

namespace uwsgi {

struct RouteEnv {
  const RequestHead* head = nullptr;
  const Captures* caps = nullptr;
  int status = 0;     // the response status (response and final chains)
  int worker_id = 0;
};

class RouteTemplate {
 public:
  // false + *err for an unterminated ${ or an unknown ${kind[...]}.
  bool compile(std::string_view text, std::string* err);
  void expand(const RouteEnv& env, std::string* out) const;
  std::string expand(const RouteEnv& env) const {
    std::string s;
    expand(env, &s);
    return s;
  }
  // No variable in it: expand() always gives text().
  bool constant() const { return constant_; }
  const std::string& text() const { return text_; }

 private:
  enum class Kind { kLiteral, kVar, kCapture, kQs, kCookie, kTimeUnix, kHttpTime, kPid, kWid, kStatus, kHex, kBase64 };
  struct Piece {
    Kind kind;
    std::string s;  // the literal, the variable name or the key
    int n = 0;      // capture number, httptime offset
  };
  std::vector<Piece> pieces_;
  std::string text_;
  bool constant_ = true;
};

// The value of KEY in a query string ("a=1&b=2"), as written (not percent-decoded).
std::string_view query_item(std::string_view qs, std::string_view key);
// The value of cookie NAME in a Cookie header value ("a=1; b=2").
std::string_view cookie_item(std::string_view cookies, std::string_view name);
// RFC 9110 IMF-fixdate of the unix time t.
std::string http_date(long long t);

}  // namespace uwsgi
