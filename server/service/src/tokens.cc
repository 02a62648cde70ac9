#include "entrenar/service/tokens.h"

#include <sstream>

#include "entrenar/base/files.h"
#include "entrenar/base/sha256.h"
#include "entrenar/base/strings.h"
#include "entrenar/base/users.h"

namespace entrenar::service {
namespace {

constexpr char kUid[] = "entrenar-uid";
constexpr char kGid[] = "entrenar-gid";

std::optional<Caller> LookUp(const std::string& user) {
  if (const std::optional<User> u = FindUser(user)) return Caller{u->uid, u->gid};
  return std::nullopt;
}

}  // namespace

Status TokenFile::Load() {
  std::lock_guard<std::mutex> lock(mu_);
  return LoadLocked();
}

Status TokenFile::LoadLocked() {
  struct stat st {};
  if (stat(path_.c_str(), &st) != 0) return NotFound("cannot read the token file " + path_);
  // A token file is a few lines: a device, a FIFO or a huge file is refused, not read.
  const Result<std::string> text = ReadWholeFile(path_, {1 << 20, /*pipes=*/false});
  if (!text.ok()) return InvalidArgument("the token file: " + text.status().message());
  std::istringstream in(*text);
  std::map<std::string, Caller> loaded;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    const std::string_view t = Trim(line);
    if (t.empty() || t[0] == '#') continue;
    std::istringstream words{std::string(t)};
    std::string user, hash, extra;
    words >> user >> hash >> extra;
    const std::string where = path_ + ":" + std::to_string(number) + ": ";
    if (hash.size() != 64 || hash.find_first_not_of("0123456789abcdef") != std::string::npos ||
        !extra.empty()) {
      return InvalidArgument(where + "expected `USER SHA256-HEX` (64 lower-case hex digits)");
    }
    const std::optional<Caller> caller = LookUp(user);
    if (!caller) return InvalidArgument(where + "no user `" + user + "`");
    loaded[hash] = *caller;
  }
  by_hash_ = std::move(loaded);
  mtime_ = st.st_mtim;
  return OkStatus();
}

std::optional<Caller> TokenFile::Find(const std::string& token) {
  std::lock_guard<std::mutex> lock(mu_);
  struct stat st {};
  if (stat(path_.c_str(), &st) == 0 &&
      (st.st_mtim.tv_sec != mtime_.tv_sec || st.st_mtim.tv_nsec != mtime_.tv_nsec)) {
    (void)LoadLocked();  // a broken edit keeps the tokens loaded before it
  }
  auto it = by_hash_.find(Sha256Hex(token));
  if (it == by_hash_.end()) return std::nullopt;
  return it->second;
}

grpc::Status TokenAuth::Process(const InputMetadata& metadata, grpc::AuthContext* context,
                                OutputMetadata* consumed, OutputMetadata*) {
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return {grpc::StatusCode::UNAUTHENTICATED,
            "entrenard requires a bearer token on TCP (set ENTRENAR_TOKEN)"};
  }
  const std::string value(it->second.data(), it->second.size());
  constexpr std::string_view kBearer = "Bearer ";
  const std::optional<Caller> caller =
      StartsWith(value, kBearer) ? tokens_.Find(value.substr(kBearer.size())) : std::nullopt;
  if (!caller) return {grpc::StatusCode::UNAUTHENTICATED, "the bearer token is not valid"};
  context->AddProperty(kUid, std::to_string(caller->uid));
  context->AddProperty(kGid, std::to_string(caller->gid));
  consumed->insert(std::make_pair(std::string(it->first.data(), it->first.size()), value));
  return grpc::Status::OK;
}

std::optional<Caller> TokenCaller(const grpc::ServerContextBase& ctx) {
  const std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  if (!auth) return std::nullopt;
  const auto uid = auth->FindPropertyValues(kUid);
  const auto gid = auth->FindPropertyValues(kGid);
  if (uid.empty() || gid.empty()) return std::nullopt;
  return Caller{static_cast<std::uint32_t>(std::stoul(std::string(uid[0].data(), uid[0].size()))),
                static_cast<std::uint32_t>(std::stoul(std::string(gid[0].data(), gid[0].size())))};
}

}  // namespace entrenar::service
