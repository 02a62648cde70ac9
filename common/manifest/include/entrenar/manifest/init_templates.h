#pragma once

#include <string>
#include <vector>

#include "entrenar/base/status.h"

namespace entrenar::manifest {

// Names accepted by `entrenar init --template`: minimal, classifier, regression, lora, qlora,
// transformer.
std::vector<std::string> InitTemplateNames();

// The commented manifest of template `name`. Returns kNotFound with a suggestion for an
// unknown name.
Result<std::string> InitTemplate(const std::string& name);

}  // namespace entrenar::manifest
