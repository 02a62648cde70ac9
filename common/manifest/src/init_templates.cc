#include "entrenar/manifest/init_templates.h"

#include <string_view>
#include <utility>
#include <vector>

#include "entrenar/base/strings.h"

namespace entrenar::manifest {
namespace internal {
extern const std::vector<std::pair<std::string_view, std::string_view>> kInitTemplates;
}  // namespace internal

std::vector<std::string> InitTemplateNames() {
  std::vector<std::string> names;
  for (const auto& [name, text] : internal::kInitTemplates) names.emplace_back(name);
  return names;
}

Result<std::string> InitTemplate(const std::string& name) {
  for (const auto& [n, text] : internal::kInitTemplates) {
    if (n == name) return std::string(text);
  }
  const std::string dym = DidYouMean(Suggest(name, InitTemplateNames()));
  return NotFound("unknown template `" + name + "`; " +
                  (dym.empty() ? "templates are " + JoinQuoted(InitTemplateNames()) : dym));
}

}  // namespace entrenar::manifest
