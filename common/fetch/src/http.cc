// libcurl's easy interface, one handle per request.
#include "http.h"

#include <cctype>
#include <cstdlib>
#include <mutex>

#include <curl/curl.h>

namespace entrenar::fetch {
namespace {

constexpr std::size_t kMaxBody = 16u << 20;

struct Transfer {
  const BodySink* sink;
  HttpResponse* response;
  bool too_long = false;
};

std::size_t OnBody(char* data, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::string_view chunk(data, size * n);
  if (*t->sink) return (*t->sink)(chunk, *t->response) ? chunk.size() : 0;
  if (t->response->body.size() + chunk.size() > kMaxBody) {
    t->too_long = true;
    return 0;
  }
  t->response->body.append(chunk);
  return chunk.size();
}

std::size_t OnHeader(char* data, std::size_t size, std::size_t n, void* user) {
  auto* r = static_cast<HttpResponse*>(user);
  std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after 100 Continue): "HTTP/1.1 206 ..."
    r->headers.clear();
    const std::size_t space = line.find(' ');
    if (space != std::string::npos) r->status = std::strtol(line.c_str() + space + 1, nullptr, 10);
  }
  const std::size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front())))
      value.erase(0, 1);
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back())))
      value.pop_back();
    r->headers[name] = value;
  }
  return size * n;
}

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

std::string HttpResponse::Header(const std::string& lower_name) const {
  const auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

std::string Origin(const std::string& url) {
  const std::size_t scheme = url.find("://");
  if (scheme == std::string::npos) return "";
  const std::size_t end = url.find('/', scheme + 3);
  std::string out = url.substr(0, end);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string EncodePath(std::string_view path, bool keep_slash) {
  static const char* const kHex = "0123456789ABCDEF";
  std::string out;
  for (const char ch : path) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || (keep_slash && c == '/') || c == '-' || c == '_' || c == '.' ||
        c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Result<HttpResponse> Http(const HttpRequest& req, const BodySink& sink) {
  GlobalInit();
  CURL* curl = curl_easy_init();
  if (!curl) return Internal("curl: cannot make a handle");
  HttpResponse response;
  Transfer transfer{&sink, &response};
  curl_slist* headers = nullptr;
  for (const std::string& h : req.headers) headers = curl_slist_append(headers, h.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "entrenar");
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, static_cast<long>(req.connect_timeout_s));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, static_cast<long>(req.stall_timeout_s));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response);
  if (req.method == "HEAD") curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  std::string range;
  if (req.range_from >= 0) {
    range = std::to_string(req.range_from) + "-";
    curl_easy_setopt(curl, CURLOPT_RANGE, range.c_str());
  }
  const CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (transfer.too_long) return DataLoss(Origin(req.url) + " sent a reply over 16 MiB");
  if (rc == CURLE_WRITE_ERROR && sink) return Status(StatusCode::kAborted, "stopped by its reader");
  if (rc != CURLE_OK) {
    return Status(StatusCode::kUnavailable,
                  "cannot reach " + Origin(req.url) + ": " + curl_easy_strerror(rc));
  }
  return response;
}

}  // namespace entrenar::fetch
