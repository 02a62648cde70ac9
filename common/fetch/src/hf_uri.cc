// hf:// references: the scheme, the repository type, the name, the revision and the path.
#include "entrenar/fetch/hf_uri.h"

#include <cctype>
#include <vector>

namespace entrenar::fetch {
namespace {

constexpr std::string_view kScheme = "hf://";

Status Bad(std::string_view uri, const std::string& why) {
  return InvalidArgument("`" + std::string(uri) + "`: " + why +
                         " (expected hf://ORG/NAME, hf://ORG/NAME@REVISION, "
                         "hf://ORG/NAME/path/in/repo or hf://datasets/ORG/NAME)");
}

// The Hub's rule for names: letters, digits, '-', '_', '.', not starting with '.' or '-', no
// "--" or "..", at most 96 characters.
bool ValidName(std::string_view s) {
  if (s.empty() || s.size() > 96 || s.front() == '.' || s.front() == '-') return false;
  if (s.find("--") != std::string_view::npos || s.find("..") != std::string_view::npos)
    return false;
  for (const char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return false;
  }
  return true;
}

std::string PercentDecoded(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::string_view> Split(std::string_view s) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const std::size_t slash = s.find('/', start);
    parts.push_back(s.substr(start, slash - start));
    if (slash == std::string_view::npos) return parts;
    start = slash + 1;
  }
}

}  // namespace

bool IsHfUri(std::string_view uri) { return uri.substr(0, kScheme.size()) == kScheme; }

std::string HfRef::Uri(RepoType bare) const {
  std::string prefix;
  // An organization named `datasets` or `models` would read as the type: then it is written.
  const std::string org = repo.substr(0, repo.find('/'));
  if (type != bare || org == "datasets" || org == "models")
    prefix = type == RepoType::kDataset ? "datasets/" : "models/";
  std::string out = std::string(kScheme) + prefix + repo;
  if (revision != "main") {
    std::string rev;
    for (const char c : revision) {
      rev += c == '/' ? std::string("%2F") : c == '%' ? std::string("%25") : std::string(1, c);
    }
    out += "@" + rev;
  }
  if (!path.empty()) out += "/" + path;
  return out;
}

Result<HfRef> ParseHfUri(std::string_view uri, RepoType bare) {
  if (!IsHfUri(uri)) return Bad(uri, "not an hf:// reference");
  std::vector<std::string_view> parts = Split(uri.substr(kScheme.size()));
  HfRef ref;
  ref.type = bare;
  if (parts.size() > 2 && (parts[0] == "datasets" || parts[0] == "models")) {
    ref.type = parts[0] == "datasets" ? RepoType::kDataset : RepoType::kModel;
    parts.erase(parts.begin());
  }
  if (parts.size() < 2 || parts[0].empty() || parts[1].empty())
    return Bad(uri, "no repository name");
  std::string_view name = parts[1];
  if (const std::size_t at = name.find('@'); at != std::string_view::npos) {
    ref.revision = PercentDecoded(name.substr(at + 1));
    name = name.substr(0, at);
    if (ref.revision.empty()) return Bad(uri, "an empty revision after `@`");
    for (const char c : ref.revision) {
      if (static_cast<unsigned char>(c) < 0x20 || c == '\\')
        return Bad(uri, "a revision with a control character or a backslash");
    }
    if (ref.revision.find("..") != std::string::npos) return Bad(uri, "a revision with `..`");
  }
  if (!ValidName(parts[0]) || !ValidName(name))
    return Bad(uri, "a repository name may hold letters, digits, `-`, `_` and `.`");
  ref.repo = std::string(parts[0]) + "/" + std::string(name);
  for (std::size_t i = 2; i < parts.size(); ++i) {
    const std::string_view p = parts[i];
    if (p.empty() && i + 1 == parts.size()) break;  // a trailing slash: a folder
    if (p.empty() || p == "." || p == "..")
      return Bad(uri, "a path with an empty, `.` or `..` part");
    for (const char c : p) {
      if (c == '\\' || static_cast<unsigned char>(c) < 0x20)
        return Bad(uri, "a path with a backslash or a control character");
    }
    ref.path += (ref.path.empty() ? "" : "/") + std::string(p);
  }
  return ref;
}

}  // namespace entrenar::fetch
