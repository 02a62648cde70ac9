#include "entrenar/image/contact_sheet.h"

#include <algorithm>
#include <sstream>

#include "entrenar/image/transform.h"

namespace entrenar::image {
namespace {

std::string Escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:  // control characters are not XML
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n') out += c;
    }
  }
  return out;
}

}  // namespace

std::string Base64(std::string_view bytes) {
  static const char* const kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 3; ++k) {
      v = v << 8 | (k < n ? static_cast<std::uint8_t>(bytes[i + k]) : 0u);
    }
    for (std::size_t k = 0; k < 4; ++k) {
      out += k <= n ? kAlphabet[(v >> (18 - 6 * k)) & 63] : '=';
    }
  }
  return out;
}

Result<std::string> ContactSheet(const std::string& title, const std::vector<SheetTile>& tiles,
                                 int tile) {
  const int columns = std::clamp(static_cast<int>(tiles.size()), 1, 8);
  const int rows = (static_cast<int>(tiles.size()) + columns - 1) / columns;
  const int cell_w = tile + 16, cell_h = tile + 36, top = 28;
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"samples\" width=\"" << columns * cell_w
      << "\" height=\"" << top + rows * cell_h
      << "\" font-family=\"sans-serif\" font-size=\"11\">\n"
      << "<text x=\"8\" y=\"18\" font-size=\"13\">" << Escape(title) << "</text>\n";
  for (std::size_t i = 0; i < tiles.size(); ++i) {
    const Image& full = tiles[i].image;
    // Larger images are shrunk to the tile (Pillow's bilinear): the sheet stays small.
    const double shrink =
        std::min(1.0, static_cast<double>(tile) / std::max(full.width, full.height));
    const Image im = shrink < 1.0
                         ? Resize(full, std::max(1, static_cast<int>(full.height * shrink)),
                                  std::max(1, static_cast<int>(full.width * shrink)))
                         : full;
    ENTRENAR_ASSIGN_OR_RETURN(const std::string png, EncodePng(im));
    const double scale = static_cast<double>(tile) / std::max(im.width, im.height);
    const int x = static_cast<int>(i) % columns * cell_w + 8;
    const int y = top + static_cast<int>(i) / columns * cell_h;
    svg << "<image x=\"" << x << "\" y=\"" << y << "\" width=\""
        << static_cast<int>(im.width * scale) << "\" height=\""
        << static_cast<int>(im.height * scale)
        << "\" style=\"image-rendering:pixelated\" href=\"data:image/png;base64," << Base64(png)
        << "\"/>\n"
        << "<text x=\"" << x << "\" y=\"" << y + tile + 16 << "\" fill=\""
        << (tiles[i].right ? "#1a7f37" : "#cf222e") << "\">" << Escape(tiles[i].caption)
        << "</text>\n";
  }
  svg << "</svg>";
  return svg.str();
}

}  // namespace entrenar::image
