#pragma once

#include <chrono>
#include <string>

#include "entrenar/base/status.h"

namespace entrenar::monitor {

// A parsed http://HOST:PORT/PATH address. Only plain HTTP.
struct HttpUrl {
  std::string host, port = "80", path = "/";
};
// Returns kInvalidArgument for anything but http://host[:port][/path] (https is refused with a
// hint: a TLS-terminating proxy on localhost).
Result<HttpUrl> ParseHttpUrl(const std::string& url);

struct HttpResponse {
  int status = 0;
  std::string body;
};

// One HTTP/1.1 request on a fresh connection ("Connection: close"), with a JSON body when
// `body` is not empty. Returns kUnavailable when the server cannot be reached or does not answer
// within `timeout`, and kDataLoss for a malformed response; any HTTP status is a response.
Result<HttpResponse> HttpRequest(const HttpUrl& base, const std::string& method,
                                 const std::string& path, const std::string& body,
                                 std::chrono::milliseconds timeout);

}  // namespace entrenar::monitor
