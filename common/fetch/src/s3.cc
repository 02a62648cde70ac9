// S3: s3:// URIs, the AWS command line's settings, Signature Version 4, ListObjectsV2 and
// objects downloaded into a cache keyed by their ETag.
#include "entrenar/fetch/s3.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <openssl/hmac.h>

#include "entrenar/base/files.h"
#include "entrenar/base/sha256.h"
#include "entrenar/base/strings.h"

#include "environment.h"
#include "http.h"
#include "partial_file.h"

namespace entrenar::fetch {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kScheme = "s3://";
constexpr char kEmptySha256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string Home() { return Env("HOME"); }

// One profile's keys of an AWS INI file (~/.aws/credentials: [NAME]; ~/.aws/config: [NAME] for
// default, [profile NAME] otherwise).
std::map<std::string, std::string> IniSection(const std::string& path, const std::string& name,
                                              bool config) {
  std::map<std::string, std::string> out;
  ReadLimits limits;
  limits.max_bytes = 1u << 20;
  Result<std::string> text = ReadWholeFile(path, limits);
  if (!text.ok()) return out;
  const std::string want = config && name != "default" ? "profile " + name : name;
  bool in = false;
  std::size_t start = 0;
  while (start <= text->size()) {
    std::size_t end = text->find('\n', start);
    if (end == std::string::npos) end = text->size();
    const std::string line(Trim(std::string_view(*text).substr(start, end - start)));
    start = end + 1;
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      in = std::string(Trim(line.substr(1, line.size() - 2))) == want;
      continue;
    }
    const std::size_t eq = line.find('=');
    if (in && eq != std::string::npos)
      out[std::string(Trim(line.substr(0, eq)))] = std::string(Trim(line.substr(eq + 1)));
  }
  return out;
}

std::string Hex(const unsigned char* p, std::size_t n) {
  static const char* const kDigits = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += kDigits[p[i] >> 4];
    out += kDigits[p[i] & 15];
  }
  return out;
}

std::string Hmac(const std::string& key, const std::string& data) {
  unsigned char out[32];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &n);
  return std::string(reinterpret_cast<char*>(out), n);
}

// "a=1&b=2" with its pairs sorted, as the canonical request wants them (already encoded).
std::string CanonicalQuery(std::string query) {
  std::vector<std::string> pairs;
  for (std::size_t start = 0; start < query.size();) {
    std::size_t amp = query.find('&', start);
    if (amp == std::string::npos) amp = query.size();
    std::string pair = query.substr(start, amp - start);
    if (pair.find('=') == std::string::npos) pair += '=';
    if (!pair.empty()) pairs.push_back(pair);
    start = amp + 1;
  }
  std::sort(pairs.begin(), pairs.end());
  return Join(pairs, "&");
}

// The text of each <tag>...</tag> in `xml`, entities decoded, in order.
std::vector<std::string> Tags(const std::string& xml, const std::string& tag) {
  std::vector<std::string> out;
  const std::string open = "<" + tag + ">", close = "</" + tag + ">";
  for (std::size_t at = xml.find(open); at != std::string::npos; at = xml.find(open, at)) {
    const std::size_t end = xml.find(close, at);
    if (end == std::string::npos) break;
    std::string v = xml.substr(at + open.size(), end - at - open.size());
    std::string decoded;
    for (std::size_t i = 0; i < v.size(); ++i) {
      static const std::pair<const char*, char> kEntities[] = {
          {"&quot;", '"'}, {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&apos;", '\''}};
      bool matched = false;
      for (const auto& [entity, c] : kEntities) {
        if (v.compare(i, std::strlen(entity), entity) == 0) {
          decoded += c;
          i += std::strlen(entity) - 1;
          matched = true;
          break;
        }
      }
      if (!matched) decoded += v[i];
    }
    out.push_back(decoded);
    at = end + close.size();
  }
  return out;
}

std::string Unquoted(std::string etag) {
  etag.erase(std::remove(etag.begin(), etag.end(), '"'), etag.end());
  return etag;
}

std::string Trimmed(std::string s) { return std::string(Trim(s)); }

}  // namespace

S3ListPage ParseListPage(std::string_view body) {
  const std::string xml(body);
  S3ListPage page;
  for (const std::string& c : Tags(xml, "Contents")) {
    const auto keys = Tags(c, "Key"), sizes = Tags(c, "Size"), etags = Tags(c, "ETag");
    if (keys.empty() || keys[0].empty()) continue;
    page.objects.push_back({keys[0],
                            sizes.empty() ? -1 : std::strtoll(sizes[0].c_str(), nullptr, 10),
                            etags.empty() ? "" : Unquoted(etags[0])});
  }
  const auto truncated = Tags(xml, "IsTruncated");
  const auto next = Tags(xml, "NextContinuationToken");
  page.truncated = !truncated.empty() && truncated[0] == "true";
  if (!next.empty()) page.next_token = next[0];
  return page;
}

Result<S3Uri> ParseS3Uri(std::string_view uri) {
  const auto bad = [&](const std::string& why) {
    return InvalidArgument("`" + std::string(uri) + "`: " + why +
                           " (expected s3://BUCKET/KEY, or s3://BUCKET/PREFIX/ for a folder)");
  };
  if (uri.substr(0, kScheme.size()) != kScheme) return bad("not an s3:// URI");
  const std::string_view rest = uri.substr(kScheme.size());
  const std::size_t slash = rest.find('/');
  S3Uri out;
  out.bucket = std::string(rest.substr(0, slash));
  if (out.bucket.size() < 3 || out.bucket.size() > 63)
    return bad("a bucket name of 3 to 63 characters");
  for (const char c : out.bucket) {
    if (!std::islower(static_cast<unsigned char>(c)) &&
        !std::isdigit(static_cast<unsigned char>(c)) && c != '.' && c != '-')
      return bad("a bucket name may hold a-z, 0-9, `.` and `-`");
  }
  if (slash == std::string_view::npos) return out;
  out.key = std::string(rest.substr(slash + 1));
  const std::string body =
      out.prefix() && !out.key.empty() ? out.key.substr(0, out.key.size() - 1) : out.key;
  if (!body.empty() && !SafeRelativePath(body)) return bad("a key with an empty, `.` or `..` part");
  return out;
}

S3Settings S3Settings::FromEnvironment() {
  S3Settings s;
  const std::string profile = Env("AWS_PROFILE").empty() ? "default" : Env("AWS_PROFILE");
  const std::string creds_file = Env("AWS_SHARED_CREDENTIALS_FILE").empty()
                                     ? Home() + "/.aws/credentials"
                                     : Env("AWS_SHARED_CREDENTIALS_FILE");
  const std::string config_file =
      Env("AWS_CONFIG_FILE").empty() ? Home() + "/.aws/config" : Env("AWS_CONFIG_FILE");
  if (!Env("AWS_ACCESS_KEY_ID").empty() && !Env("AWS_SECRET_ACCESS_KEY").empty()) {
    s.credentials = S3Credentials{Env("AWS_ACCESS_KEY_ID"), Env("AWS_SECRET_ACCESS_KEY"),
                                  Env("AWS_SESSION_TOKEN")};
  } else {
    auto section = IniSection(creds_file, profile, false);
    if (section.count("aws_access_key_id") && section.count("aws_secret_access_key")) {
      s.credentials = S3Credentials{section["aws_access_key_id"], section["aws_secret_access_key"],
                                    section["aws_session_token"]};
    }
  }
  auto config = IniSection(config_file, profile, true);
  if (!Env("AWS_REGION").empty()) {
    s.region = Env("AWS_REGION");
  } else if (!Env("AWS_DEFAULT_REGION").empty()) {
    s.region = Env("AWS_DEFAULT_REGION");
  } else if (config.count("region")) {
    s.region = config["region"];
  }
  s.endpoint = !Env("AWS_ENDPOINT_URL_S3").empty() ? Env("AWS_ENDPOINT_URL_S3")
               : !Env("AWS_ENDPOINT_URL").empty()  ? Env("AWS_ENDPOINT_URL")
                                                   : config["endpoint_url"];
  while (!s.endpoint.empty() && s.endpoint.back() == '/') s.endpoint.pop_back();
  s.cache =
      (Env("XDG_CACHE_HOME").empty() ? Home() + "/.cache" : Env("XDG_CACHE_HOME")) + "/entrenar/s3";
  return s;
}

std::map<std::string, std::string> SignV4(const std::string& method, const std::string& url,
                                          const std::map<std::string, std::string>& headers,
                                          const S3Credentials& credentials,
                                          const std::string& region, std::time_t when) {
  char stamp[32];
  std::tm tm{};
  gmtime_r(&when, &tm);
  std::strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
  const std::string amz_date = stamp, date = amz_date.substr(0, 8);
  const std::size_t scheme = url.find("://");
  const std::size_t path_at = url.find('/', scheme + 3);
  const std::string host = url.substr(scheme + 3, path_at - scheme - 3);
  std::string path = path_at == std::string::npos ? "/" : url.substr(path_at);
  std::string query;
  if (const std::size_t q = path.find('?'); q != std::string::npos) {
    query = path.substr(q + 1);
    path = path.substr(0, q);
  }
  std::map<std::string, std::string> signed_headers;
  for (const auto& [k, v] : headers) {
    // Trimmed, each run of spaces one space (the canonical form).
    std::string value;
    for (const char c : Trimmed(v)) {
      if (c != ' ' || value.empty() || value.back() != ' ') value += c;
    }
    signed_headers[ToLower(k)] = value;
  }
  signed_headers["host"] = host;
  signed_headers["x-amz-date"] = amz_date;
  signed_headers["x-amz-content-sha256"] = kEmptySha256;
  if (!credentials.session_token.empty())
    signed_headers["x-amz-security-token"] = credentials.session_token;
  std::string canonical_headers, names;
  for (const auto& [k, v] : signed_headers) {
    canonical_headers += k + ":" + v + "\n";
    names += (names.empty() ? "" : ";") + k;
  }
  const std::string canonical = method + "\n" + path + "\n" + CanonicalQuery(query) + "\n" +
                                canonical_headers + "\n" + names + "\n" + kEmptySha256;
  const std::string scope = date + "/" + region + "/s3/aws4_request";
  const std::string to_sign =
      "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope + "\n" + Sha256Hex(canonical);
  const std::string key =
      Hmac(Hmac(Hmac(Hmac("AWS4" + credentials.secret_key, date), region), "s3"), "aws4_request");
  const std::string signature = Hmac(key, to_sign);
  std::map<std::string, std::string> out;
  out["Authorization"] =
      "AWS4-HMAC-SHA256 Credential=" + credentials.access_key + "/" + scope +
      ", SignedHeaders=" + names + ", Signature=" +
      Hex(reinterpret_cast<const unsigned char*>(signature.data()), signature.size());
  out["X-Amz-Date"] = amz_date;
  out["X-Amz-Content-SHA256"] = kEmptySha256;
  if (!credentials.session_token.empty()) out["X-Amz-Security-Token"] = credentials.session_token;
  return out;
}

S3::S3(S3Settings settings) : settings_(std::move(settings)) {}

std::string S3::Url(const std::string& bucket, const std::string& key,
                    const std::string& query) const {
  const std::string path = EncodePath(key, true);
  std::string url = settings_.endpoint.empty()
                        ? "https://" + bucket + ".s3." + settings_.region + ".amazonaws.com/" + path
                        : settings_.endpoint + "/" + bucket + "/" + path;
  return query.empty() ? url : url + "?" + query;
}

// The signed headers of a request (a Range header goes unsigned: curl's own).
std::vector<std::string> S3::Headers(const std::string& method, const std::string& url) const {
  std::vector<std::string> out;
  if (!settings_.credentials) return out;
  for (const auto& [k, v] :
       SignV4(method, url, {}, *settings_.credentials, settings_.region, std::time(nullptr)))
    out.push_back(k + ": " + v);
  return out;
}

Status S3::Error(long status, const std::string& body, const std::string& uri,
                 const std::string& bucket, const std::string& key) {
  const std::vector<std::string> codes = Tags(body, "Code");
  const std::string code = codes.empty() ? "" : codes[0];
  if (status == 403 || status == 401) {
    std::string why = code.empty() ? "access denied" : code;
    return PermissionDenied(uri + ": S3 refused it (" + why +
                            "): check AWS_ACCESS_KEY_ID and "
                            "AWS_SECRET_ACCESS_KEY (or the profile in ~/.aws/credentials) and "
                            "that the key may read the bucket");
  }
  if (status == 404) {
    if (code == "NoSuchBucket")
      return NotFound(uri + ": no bucket `" + bucket + "` at " + Origin(Url(bucket, "", "")));
    std::string msg = uri + ": no such object";
    const std::size_t slash = key.find_last_of('/');
    const std::string parent = slash == std::string::npos ? "" : key.substr(0, slash + 1);
    Result<std::vector<S3Object>> near = List(bucket, parent);
    if (near.ok()) {
      std::vector<std::string> keys;
      for (const S3Object& o : *near) keys.push_back(o.key);
      const std::string hint = DidYouMean(Suggest(key, keys));
      if (!hint.empty()) msg += "; " + hint;
    }
    return NotFound(msg);
  }
  return Status(StatusCode::kUnavailable, uri + ": S3 answered " + std::to_string(status) +
                                              (code.empty() ? "" : " " + code) +
                                              "; try again later");
}

Result<std::vector<S3Object>> S3::List(const std::string& bucket, const std::string& prefix) {
  std::vector<S3Object> out;
  std::string token;
  const std::string uri = "s3://" + bucket + "/" + prefix;
  for (int page = 0; page < 10000; ++page) {
    std::string query = "list-type=2&prefix=" + EncodePath(prefix, false);
    if (!token.empty()) query = "continuation-token=" + EncodePath(token, false) + "&" + query;
    HttpRequest req;
    req.url = Url(bucket, "", query);
    req.headers = Headers("GET", req.url);
    Result<HttpResponse> r = Http(req);
    if (!r.ok()) return Status(r.status().code(), uri + ": " + r.status().message());
    if (r->status != 200) {
      const std::vector<std::string> codes = Tags(r->body, "Code");
      if (r->status == 404 && !codes.empty() && codes[0] == "NoSuchBucket")
        return NotFound(uri + ": no bucket `" + bucket + "`");
      return Error(r->status, r->body, uri, bucket, prefix);
    }
    S3ListPage page_objects = ParseListPage(r->body);
    out.insert(out.end(), page_objects.objects.begin(), page_objects.objects.end());
    if (out.size() > 10'000'000) return DataLoss(uri + ": more than ten million keys");
    if (!page_objects.truncated || page_objects.next_token.empty()) return out;
    token = page_objects.next_token;
  }
  return DataLoss(uri + ": more than 10000 pages of keys");
}

Result<std::string> S3::Fetch(const std::string& bucket, const std::string& key,
                              const ProgressFn& progress) {
  const std::string uri = "s3://" + bucket + "/" + key;
  if (!SafeRelativePath(key))
    return InvalidArgument(uri + ": a key that cannot be a file name here");
  HttpRequest head;
  head.method = "HEAD";
  head.url = Url(bucket, key, "");
  head.headers = Headers("HEAD", head.url);
  Result<HttpResponse> h = Http(head);
  const std::string local = settings_.cache + "/" + bucket + "/" + key;
  const auto cached_etag = [&](const std::string& path) {
    ReadLimits limits;
    limits.max_bytes = 1024;
    Result<std::string> e = ReadWholeFile(path + ".etag", limits);
    return e.ok() ? *e : std::string();
  };
  if (!h.ok()) {
    // No network: an object cached before is used as it is.
    std::error_code ec;
    if (fs::is_regular_file(local, ec) && !cached_etag(local).empty()) return local;
    return Status(h.status().code(), uri + ": " + h.status().message());
  }
  if (h->status != 200) return Error(h->status, "", uri, bucket, key);
  const std::string etag = Unquoted(h->Header("etag"));
  const std::string length = h->Header("content-length");
  const std::int64_t size = length.empty() ? -1 : std::strtoll(length.c_str(), nullptr, 10);
  std::error_code ec;
  if (fs::is_regular_file(local, ec) && cached_etag(local) == etag) return local;
  fs::create_directories(fs::path(local).parent_path(), ec);
  if (ec)
    return DataLoss("cannot make " + fs::path(local).parent_path().string() + ": " + ec.message());
  // Two downloads of one object take turns; the second finds it done. The locks live apart
  // (CACHE/.locks/BUCKET/KEY.lock), out of the folders that runs read.
  const std::string lock_path = settings_.cache + "/.locks/" + bucket + "/" + key + ".lock";
  fs::create_directories(fs::path(lock_path).parent_path(), ec);
  FileLock lock(lock_path);
  if (fs::is_regular_file(local, ec) && cached_etag(local) == etag) return local;
  const std::string partial = local + ".incomplete";
  // A partial file of another version of the object starts over.
  if (cached_etag(partial) != etag) fs::remove(partial, ec);
  ENTRENAR_RETURN_IF_ERROR(WriteFileAtomic(partial + ".etag", etag));
  struct stat st {};
  PartialFile out(partial, ::stat(partial.c_str(), &st) == 0 ? st.st_size : 0);
  HttpRequest get;
  get.url = head.url;
  get.headers = Headers("GET", get.url);
  if (out.have() > 0) get.range_from = out.have();
  if (progress) progress({key, out.have(), size, false});
  Result<HttpResponse> r = Http(get, [&](std::string_view chunk, const HttpResponse& resp) {
    if (resp.status != 200 && resp.status != 206) return true;
    return out.Write(chunk, resp.status);
  });
  ENTRENAR_RETURN_IF_ERROR(out.Close());
  const std::string cut = uri + ": the download was cut short at " + std::to_string(out.have()) +
                          " of " + std::to_string(size) + " bytes (kept in " + partial +
                          "); run again to resume";
  if (!r.ok()) return Status(r.status().code(), cut + " (" + r.status().message() + ")");
  if (r->status != 200 && r->status != 206 && !(r->status == 416 && out.have() == size))
    return Error(r->status, r->body, uri, bucket, key);
  if (size >= 0 && out.have() != size) return Status(StatusCode::kUnavailable, cut);
  fs::rename(partial, local, ec);
  if (ec) return DataLoss("cannot move " + partial + " to " + local + ": " + ec.message());
  fs::rename(partial + ".etag", local + ".etag", ec);
  if (progress) progress({key, out.have(), size, true});
  return local;
}

}  // namespace entrenar::fetch
