#pragma once

#include <cstdint>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "entrenar/base/status.h"
#include "entrenar/fetch/hub.h"

namespace entrenar::fetch {

// s3://BUCKET/KEY: one object, or with a trailing slash (or an empty key) a prefix.
struct S3Uri {
  std::string bucket;
  std::string key;
  bool prefix() const { return key.empty() || key.back() == '/'; }
};

// Parses s3://BUCKET[/KEY]. kInvalidArgument for another scheme, a bucket name S3 does not allow
// (3-63 of a-z, 0-9, '.', '-'), or a key with an empty, `.` or `..` part or a control character.
Result<S3Uri> ParseS3Uri(std::string_view uri);

struct S3Credentials {
  std::string access_key, secret_key, session_token;
};

// Where S3 is and who asks, as the AWS command line reads it: AWS_ACCESS_KEY_ID /
// AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, else the profile (AWS_PROFILE, else `default`) of
// AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials); the region from AWS_REGION,
// AWS_DEFAULT_REGION or the profile in AWS_CONFIG_FILE (~/.aws/config), else us-east-1; the
// endpoint from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (MinIO, Ceph: path-style addressing),
// else https://s3.REGION.amazonaws.com with virtual-hosted buckets.
struct S3Settings {
  std::optional<S3Credentials> credentials;  // none: unsigned (public buckets)
  std::string region = "us-east-1";
  std::string endpoint;  // empty: AWS itself
  std::string cache;     // $XDG_CACHE_HOME/entrenar/s3, else ~/.cache/entrenar/s3

  static S3Settings FromEnvironment();
};

// AWS Signature Version 4 for S3: the headers to add to a request of `method` to `url` (already
// percent-encoded) with `headers` (all signed, with host) at `when`: Authorization, x-amz-date,
// x-amz-content-sha256 (the empty body's hash) and x-amz-security-token when there is one.
std::map<std::string, std::string> SignV4(const std::string& method, const std::string& url,
                                          const std::map<std::string, std::string>& headers,
                                          const S3Credentials& credentials,
                                          const std::string& region, std::time_t when);

struct S3Object {
  std::string key;
  std::int64_t size = -1;
  std::string etag;  // without quotes
};

// One page of a ListObjectsV2 answer (XML): its objects, and where the next page starts.
struct S3ListPage {
  std::vector<S3Object> objects;
  bool truncated = false;
  std::string next_token;
};
// Reads the page's <Contents> (Key, Size, ETag), <IsTruncated> and <NextContinuationToken>,
// XML entities decoded; an object without a key is left out. Never fails: what is not there is
// not read.
S3ListPage ParseListPage(std::string_view xml);

// An S3 (or S3-compatible) store: listing, objects in a local cache keyed by their ETag
// (CACHE/BUCKET/KEY, its ETag beside it in KEY.etag; downloads go to KEY.incomplete, resumed
// with Range, renamed whole; two processes downloading one object take turns on
// CACHE/.locks/BUCKET/KEY.lock). Errors name the URI and say what to do, never the secret:
// kPermissionDenied (403: the key or its rights), kNotFound (404: with the nearest keys under
// the prefix), kUnavailable (no network, a cut transfer: the part is kept).
class S3 {
 public:
  explicit S3(S3Settings settings);

  // The objects under `prefix` of `bucket` (ListObjectsV2, every page).
  Result<std::vector<S3Object>> List(const std::string& bucket, const std::string& prefix);
  // The cached path of s3://bucket/key, downloaded when the cache lacks it or its ETag changed.
  Result<std::string> Fetch(const std::string& bucket, const std::string& key,
                            const ProgressFn& progress = {});

 private:
  std::string Url(const std::string& bucket, const std::string& key,
                  const std::string& query) const;
  std::vector<std::string> Headers(const std::string& method, const std::string& url) const;
  Status Error(long status, const std::string& body, const std::string& uri,
               const std::string& bucket, const std::string& key);

  S3Settings settings_;
};

}  // namespace entrenar::fetch
