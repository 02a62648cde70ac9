#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include <grpcpp/security/auth_metadata_processor.h>

#include "entrenar/base/status.h"
#include "entrenar/service/job_service.h"

namespace entrenar::service {

// Bearer tokens for TCP clients. The token file holds one `USER SHA256-HEX` per line (`#`
// comments); only hashes are stored, so the file reveals no token. It is re-read when it changes.
class TokenFile {
 public:
  explicit TokenFile(std::string path) : path_(std::move(path)) {}
  // Reads the file now; an error names the file and line.
  Status Load();
  // The user of a token, or nullopt.
  std::optional<Caller> Find(const std::string& token);

 private:
  Status LoadLocked();
  std::string path_;
  std::mutex mu_;  // guards by_hash_ and mtime_ (reloaded when the file changes)
  std::map<std::string, Caller> by_hash_;
  timespec mtime_{};
};

// Rejects every TCP call without a valid `authorization: Bearer TOKEN` header
// (UNAUTHENTICATED) and records the caller in the call's auth context.
class TokenAuth final : public grpc::AuthMetadataProcessor {
 public:
  explicit TokenAuth(TokenFile& tokens) : tokens_(tokens) {}
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed, OutputMetadata* response) override;

 private:
  TokenFile& tokens_;
};

// The caller a TokenAuth recorded for this call, if any.
std::optional<Caller> TokenCaller(const grpc::ServerContextBase& ctx);

}  // namespace entrenar::service
