// HTTP(S) through libcurl, for the Hub and object stores: one request, its status and headers,
// the body to a string or a sink. Redirects are not followed (the caller decides where a token
// may go). Internal to entrenar_fetch.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "entrenar/base/status.h"

namespace entrenar::fetch {

struct HttpRequest {
  std::string method = "GET";  // GET or HEAD
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::int64_t range_from = -1;      // Range: bytes=N-
  int connect_timeout_s = 20;
  // A transfer slower than 1 kB/s for this long is abandoned.
  int stall_timeout_s = 60;
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;                            // when no sink was given (at most 16 MiB)

  std::string Header(const std::string& lower_name) const;
};

// Body bytes as they arrive, with the response's status and headers (known by then); false
// stops the transfer (the request then fails with kAborted).
using BodySink = std::function<bool(std::string_view, const HttpResponse&)>;

// Performs `req`. kUnavailable (naming the host and curl's reason) when the server cannot be
// reached or the transfer breaks; the response otherwise, whatever its status.
Result<HttpResponse> Http(const HttpRequest& req, const BodySink& sink = {});

// "https://host:port" of a URL, for comparing where requests go.
std::string Origin(const std::string& url);

// `path` percent-encoded as AWS and the Hub want it: unreserved characters (letters, digits,
// `-_.~`) kept, the rest %XX in upper case; slashes kept when `keep_slash`.
std::string EncodePath(std::string_view path, bool keep_slash = true);

}  // namespace entrenar::fetch
