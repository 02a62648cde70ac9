// A contact sheet: a few images in a grid, each captioned (sample_predictions of image data).
#pragma once

#include <string>
#include <vector>

#include "entrenar/base/status.h"
#include "entrenar/image/image.h"

namespace entrenar::image {

struct SheetTile {
  Image image;
  std::string caption;  // e.g. "cat → dog 0.71"
  bool right = true;    // drawn green when right, red when wrong
};

// A standalone SVG of `tiles` in rows of up to 8: each image an embedded PNG (a data: URI) drawn
// `tile` pixels on its longer side (pixelated, so small images stay sharp), its caption below.
// Captions are escaped for XML.
Result<std::string> ContactSheet(const std::string& title, const std::vector<SheetTile>& tiles,
                                 int tile = 96);

// `bytes` in base64 (RFC 4648, with padding).
std::string Base64(std::string_view bytes);

}  // namespace entrenar::image
