// The image data sets kept as binary files: MNIST's idx files and CIFAR's batches.
#include "entrenar/image/datasets.h"

#include <zlib.h>

#include <string>

namespace entrenar::image {
namespace {

std::uint32_t BigEndian32(std::string_view b, std::size_t at) {
  const auto p = [&](std::size_t i) {
    return static_cast<std::uint32_t>(static_cast<std::uint8_t>(b[at + i]));
  };
  return p(0) << 24 | p(1) << 16 | p(2) << 8 | p(3);
}

// The idx header: the magic's type and dimensions, and the data after it.
struct Idx {
  std::vector<std::uint32_t> dims;
  std::string_view data;
};

Result<Idx> ParseIdx(std::string_view b, std::uint32_t magic, const char* what) {
  if (b.size() < 4 || BigEndian32(b, 0) != magic) {
    return DataLoss(std::string("idx: not an ") + what + " file (its first bytes are not " +
                    (magic == 0x803 ? "00 00 08 03" : "00 00 08 01") + ")");
  }
  Idx idx;
  const std::size_t dims = magic & 0xff;
  if (b.size() < 4 + 4 * dims) return DataLoss("idx: the header is cut short");
  std::uint64_t size = 1;
  for (std::size_t d = 0; d < dims; ++d) {
    idx.dims.push_back(BigEndian32(b, 4 + 4 * d));
    size *= idx.dims.back();
    if (size > b.size()) break;
  }
  idx.data = b.substr(4 + 4 * dims);
  if (size != idx.data.size()) {
    return DataLoss("idx: the header says " + std::to_string(size) +
                    " bytes of data, the file has " + std::to_string(idx.data.size()));
  }
  return idx;
}

}  // namespace

Result<std::string> MaybeGunzip(std::string_view bytes, std::size_t max_bytes) {
  if (bytes.size() < 2 || static_cast<std::uint8_t>(bytes[0]) != 0x1f ||
      static_cast<std::uint8_t>(bytes[1]) != 0x8b) {
    if (bytes.size() > max_bytes)
      return DataLoss("more than " + std::to_string(max_bytes) + " bytes");
    return std::string(bytes);
  }
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return Internal("gzip: zlib would not start");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  std::string out;
  char chunk[1 << 16];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    z.next_out = reinterpret_cast<Bytef*>(chunk);
    z.avail_out = sizeof chunk;
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    out.append(chunk, sizeof chunk - z.avail_out);
    if (out.size() > max_bytes) {
      inflateEnd(&z);
      return DataLoss("gzip: inflates to more than " + std::to_string(max_bytes) + " bytes");
    }
    if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) break;  // the input ends early
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END) return DataLoss("gzip: the stream is damaged or cut short");
  return out;
}

Result<std::vector<Image>> DecodeIdxImages(std::string_view bytes, std::size_t max_bytes) {
  ENTRENAR_ASSIGN_OR_RETURN(const std::string raw, MaybeGunzip(bytes, max_bytes));
  ENTRENAR_ASSIGN_OR_RETURN(const Idx idx, ParseIdx(raw, 0x803, "idx image"));
  const std::uint32_t count = idx.dims[0], rows = idx.dims[1], cols = idx.dims[2];
  if ((rows == 0 || cols == 0) && count > 0) return DataLoss("idx: images of no pixels");
  const std::size_t pixels = std::size_t{rows} * cols;
  // Each image costs its pixels and its own bookkeeping: four billion 1 x 1 images fit a 4 GiB
  // file but not in memory.
  if (static_cast<double>(count) * static_cast<double>(pixels + sizeof(Image)) >
      2.0 * static_cast<double>(max_bytes)) {
    return DataLoss("idx: " + std::to_string(count) + " images of " + std::to_string(rows) + " x " +
                    std::to_string(cols) + " pixels would need more memory than allowed");
  }
  std::vector<Image> out(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    out[i].width = static_cast<int>(cols);
    out[i].height = static_cast<int>(rows);
    out[i].channels = 1;
    const std::string_view p = idx.data.substr(i * pixels, pixels);
    out[i].pixels.assign(p.begin(), p.end());
  }
  return out;
}

Result<std::vector<int>> DecodeIdxLabels(std::string_view bytes, std::size_t max_bytes) {
  ENTRENAR_ASSIGN_OR_RETURN(const std::string raw, MaybeGunzip(bytes, max_bytes));
  ENTRENAR_ASSIGN_OR_RETURN(const Idx idx, ParseIdx(raw, 0x801, "idx label"));
  std::vector<int> out;
  out.reserve(idx.data.size());
  for (const char c : idx.data) out.push_back(static_cast<std::uint8_t>(c));
  return out;
}

Result<LabeledImages> DecodeCifar(std::string_view bytes, Cifar kind) {
  const std::size_t head = kind == Cifar::k10 ? 1 : 2;
  const std::size_t record = head + 3072;
  if (bytes.empty() || bytes.size() % record != 0) {
    return DataLoss("cifar: " + std::to_string(bytes.size()) + " bytes are not whole records of " +
                    std::to_string(record));
  }
  const int classes = kind == Cifar::k10 ? 10 : kind == Cifar::k100Fine ? 100 : 20;
  LabeledImages out;
  for (std::size_t at = 0; at < bytes.size(); at += record) {
    const int label = static_cast<std::uint8_t>(bytes[at + (kind == Cifar::k100Fine ? 1 : 0)]);
    if (label >= classes) {
      return DataLoss("cifar: record " + std::to_string(at / record + 1) + " has label " +
                      std::to_string(label) + " of " + std::to_string(classes) + " classes");
    }
    Image image;
    image.width = image.height = 32;
    image.channels = 3;
    image.pixels.resize(3072);
    for (std::size_t i = 0; i < 1024; ++i) {
      for (std::size_t c = 0; c < 3; ++c)
        image.pixels[3 * i + c] = static_cast<std::uint8_t>(bytes[at + head + c * 1024 + i]);
    }
    out.images.push_back(std::move(image));
    out.labels.push_back(label);
  }
  return out;
}

}  // namespace entrenar::image
