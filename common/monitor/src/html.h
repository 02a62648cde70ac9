// Helpers shared by the report's SVG charts and its HTML page.
#pragma once

#include <string>

namespace entrenar::monitor {

// `s` with < > & " as HTML entities.
std::string HtmlEscape(const std::string& s);

}  // namespace entrenar::monitor
