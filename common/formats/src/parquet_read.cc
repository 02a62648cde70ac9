// Reading Parquet files: the footer, then row group by row group each chosen column's chunk
// (its bytes alone), page by page: levels, values, and rows assembled from them.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>
#include <tuple>

#include "entrenar/base/files.h"
#include "entrenar/base/strings.h"
#include "entrenar/formats/parquet.h"

#include "parquet_meta.h"
#include "parquet_pages.h"
#include "thrift_compact.h"

namespace entrenar::formats {
namespace {

using namespace parquet;  // NOLINT: the format's constants

// Where a file's bytes come from: memory, or a file read with pread (only the footer and the
// chosen chunks are read).
class Source {
 public:
  virtual ~Source() = default;
  virtual std::uint64_t size() const = 0;
  virtual Status Read(std::uint64_t offset, std::size_t n, std::string* out) = 0;
};

class MemorySource : public Source {
 public:
  explicit MemorySource(std::string_view b) : b_(b) {}
  std::uint64_t size() const override { return b_.size(); }
  Status Read(std::uint64_t offset, std::size_t n, std::string* out) override {
    out->assign(b_.substr(static_cast<std::size_t>(offset), n));
    return OkStatus();
  }

 private:
  std::string_view b_;
};

class FileSource : public Source {
 public:
  FileSource(int fd, std::uint64_t size, std::string path)
      : fd_(fd), size_(size), path_(std::move(path)) {}
  ~FileSource() override { ::close(fd_); }
  std::uint64_t size() const override { return size_; }
  Status Read(std::uint64_t offset, std::size_t n, std::string* out) override {
    out->resize(n);
    std::size_t got = 0;
    while (got < n) {
      const ssize_t r = ::pread(fd_, out->data() + got, n - got, static_cast<off_t>(offset + got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        return DataLoss("cannot read " + path_ + ": " +
                        (r < 0 ? std::string(std::strerror(errno)) : "it became shorter"));
      }
      got += static_cast<std::size_t>(r);
    }
    return OkStatus();
  }

 private:
  int fd_;
  std::uint64_t size_;
  std::string path_;
};

// The footer's bytes bound the schema and the chunk list; larger footers are refused.
constexpr std::uint32_t kMaxFooter = 64u << 20;
// A page decompresses to at most this much.
constexpr std::int64_t kMaxPage = std::int64_t{1} << 30;

struct PageHeader {
  int type = -1;
  std::int64_t uncompressed = -1, compressed = -1;
  std::int64_t num_values = -1, num_nulls = 0;
  int encoding = -1, def_encoding = kRle, rep_encoding = kRle;
  std::int64_t def_bytes = 0, rep_bytes = 0;
  bool v2_compressed = true;
};

void ReadPageFields(thrift::CompactReader& r, int page_field, PageHeader* h) {
  r.BeginStruct();
  for (auto [id, t] = r.Field(); t != 0 && r.ok(); std::tie(id, t) = r.Field()) {
    const std::int64_t v = r.Value(t);
    if (page_field == 7) {  // DictionaryPageHeader
      if (id == 1) h->num_values = v;
      if (id == 2) h->encoding = static_cast<int>(v);
    } else if (page_field == 5) {  // DataPageHeader
      if (id == 1) h->num_values = v;
      if (id == 2) h->encoding = static_cast<int>(v);
      if (id == 3) h->def_encoding = static_cast<int>(v);
      if (id == 4) h->rep_encoding = static_cast<int>(v);
    } else {  // DataPageHeaderV2
      if (id == 1) h->num_values = v;
      if (id == 2) h->num_nulls = v;
      if (id == 4) h->encoding = static_cast<int>(v);
      if (id == 5) h->def_bytes = v;
      if (id == 6) h->rep_bytes = v;
      if (id == 7) h->v2_compressed = v != 0;
    }
  }
  r.EndStruct();
}

PageHeader ReadPageHeader(thrift::CompactReader& r) {
  PageHeader h;
  for (auto [id, t] = r.Field(); t != 0 && r.ok(); std::tie(id, t) = r.Field()) {
    if ((id == 5 || id == 7 || id == 8) && t == thrift::kStruct) {
      ReadPageFields(r, id, &h);
      continue;
    }
    const std::int64_t v = r.Value(t);
    if (id == 1) h.type = static_cast<int>(v);
    if (id == 2) h.uncompressed = v;
    if (id == 3) h.compressed = v;
  }
  return h;
}

// Reads one leaf's chunks into its column, row group after row group.
class ColumnReader {
 public:
  ColumnReader(const Leaf& leaf, const std::string& file, std::int64_t* budget, ParquetColumn* out)
      : leaf_(leaf), file_(file), budget_(budget), out_(out), kind_(KindOf(leaf)) {
    out_->name = leaf.name;
    out_->kind = kind_;
    out_->text = leaf.text;
    out_->list = leaf.max_rep > 0;
    if (out_->list) out_->offsets.push_back(0);
  }

  // `bytes` are the chunk's, from its first page.
  Status ReadChunk(std::string_view bytes, const Chunk& chunk, std::int64_t rows) {
    const std::size_t rows_before = out_->rows();
    dictionary_.reset();
    std::int64_t seen = 0;
    std::size_t pos = 0;
    while (seen < chunk.num_values) {
      if (pos >= bytes.size()) return Bad("its pages end before its values do");
      thrift::CompactReader r(bytes, pos);
      const PageHeader h = ReadPageHeader(r);
      if (!r.ok() || h.compressed < 0 || h.uncompressed < 0 || h.uncompressed > kMaxPage ||
          static_cast<std::uint64_t>(h.compressed) > bytes.size() - r.pos())
        return Bad("a page header is damaged");
      const std::string_view payload =
          bytes.substr(r.pos(), static_cast<std::size_t>(h.compressed));
      pos = r.pos() + static_cast<std::size_t>(h.compressed);
      if (h.type == kDictionaryPage) {
        ENTRENAR_RETURN_IF_ERROR(ReadDictionary(h, payload, chunk.codec));
      } else if (h.type == kDataPage || h.type == kDataPageV2) {
        if (h.num_values < 0 || h.num_values > chunk.num_values - seen)
          return Bad("a page holds more values than its column chunk");
        ENTRENAR_RETURN_IF_ERROR(Spend(h.num_values));
        ENTRENAR_RETURN_IF_ERROR(ReadDataPage(h, payload, chunk.codec));
        seen += h.num_values;
      } else if (h.type != kIndexPage) {
        return Bad("a page of unknown type " + std::to_string(h.type));
      }
    }
    if (static_cast<std::int64_t>(out_->rows() - rows_before) != rows) {
      return Bad("it has " + std::to_string(out_->rows() - rows_before) +
                 " rows in a row group of " + std::to_string(rows));
    }
    return OkStatus();
  }

 private:
  Status Bad(const std::string& what) const {
    return DataLoss(file_ + ": column " + leaf_.path + ": " + what);
  }
  Status Spend(std::int64_t n) {
    if (n > *budget_) {
      return Status(StatusCode::kResourceExhausted,
                    file_ +
                        ": more values than entrenar reads from one file at once "
                        "(choose fewer columns or split the file)");
    }
    *budget_ -= n;
    return OkStatus();
  }

  Status Uncompress(std::string_view in, std::int64_t size, int codec, std::string* out) const {
    Status s = Decompress(codec, in, static_cast<std::size_t>(size), out);
    if (s.ok()) return s;
    if (s.code() == StatusCode::kUnimplemented)
      return Unimplemented(file_ + ": column " + leaf_.path + ": " + s.message());
    return Bad(s.message());
  }

  Status ReadDictionary(const PageHeader& h, std::string_view payload, int codec) {
    if (h.num_values < 0) return Bad("its dictionary page is damaged");
    ENTRENAR_RETURN_IF_ERROR(Spend(h.num_values));
    std::string plain;
    ENTRENAR_RETURN_IF_ERROR(Uncompress(payload, h.uncompressed, codec, &plain));
    dictionary_ = std::make_unique<Values>();
    const std::string err = DecodeValues(
        leaf_, kPlain, plain, static_cast<std::size_t>(h.num_values), nullptr, dictionary_.get());
    if (!err.empty()) return Bad("its dictionary: " + err);
    return OkStatus();
  }

  // Splits a page into its levels and its (decompressed) values.
  Status PageParts(const PageHeader& h, std::string_view payload, int codec, std::string* buffer,
                   std::string_view* values) {
    const auto n = static_cast<std::size_t>(h.num_values);
    if (h.type == kDataPageV2) {
      if (h.rep_bytes < 0 || h.def_bytes < 0 ||
          static_cast<std::uint64_t>(h.rep_bytes) + static_cast<std::uint64_t>(h.def_bytes) >
              payload.size())
        return Bad("a page's level lengths are past its end");
      const auto rb = static_cast<std::size_t>(h.rep_bytes);
      const auto db = static_cast<std::size_t>(h.def_bytes);
      ENTRENAR_RETURN_IF_ERROR(Levels(payload.substr(0, rb), leaf_.max_rep, n, &rep_));
      ENTRENAR_RETURN_IF_ERROR(Levels(payload.substr(rb, db), leaf_.max_def, n, &def_));
      const std::string_view rest = payload.substr(rb + db);
      const std::int64_t size = h.uncompressed - h.rep_bytes - h.def_bytes;
      if (!h.v2_compressed || codec == kUncompressed) {
        *values = rest;
        return OkStatus();
      }
      if (size < 0) return Bad("a page's sizes disagree");
      ENTRENAR_RETURN_IF_ERROR(Uncompress(rest, size, codec, buffer));
      *values = *buffer;
      return OkStatus();
    }
    ENTRENAR_RETURN_IF_ERROR(Uncompress(payload, h.uncompressed, codec, buffer));
    std::string_view page = *buffer;
    if (leaf_.max_rep > 0)
      ENTRENAR_RETURN_IF_ERROR(PrefixedLevels(&page, leaf_.max_rep, h.rep_encoding, n, &rep_));
    if (leaf_.max_def > 0)
      ENTRENAR_RETURN_IF_ERROR(PrefixedLevels(&page, leaf_.max_def, h.def_encoding, n, &def_));
    *values = page;
    return OkStatus();
  }

  Status Levels(std::string_view data, int max, std::size_t n, std::vector<std::uint32_t>* out) {
    if (max == 0) {
      out->assign(n, 0);
      return OkStatus();
    }
    if (!DecodeHybrid(data, BitWidth(static_cast<std::uint64_t>(max)), n, out))
      return Bad("its levels are damaged");
    for (std::uint32_t l : *out) {
      if (l > static_cast<std::uint32_t>(max)) return Bad("a level is above its maximum");
    }
    return OkStatus();
  }

  // Data page v1 levels: a 4-byte length, then the hybrid encoding.
  Status PrefixedLevels(std::string_view* page, int max, int encoding, std::size_t n,
                        std::vector<std::uint32_t>* out) {
    if (encoding != kRle)
      return Unimplemented(file_ + ": column " + leaf_.path +
                           ": levels in the deprecated BIT_PACKED encoding");
    std::uint32_t len = 0;
    if (page->size() < 4) return Bad("a page is cut short");
    std::memcpy(&len, page->data(), 4);
    if (len > page->size() - 4) return Bad("a page's levels are past its end");
    ENTRENAR_RETURN_IF_ERROR(Levels(page->substr(4, len), max, n, out));
    page->remove_prefix(4 + len);
    return OkStatus();
  }

  Status ReadDataPage(const PageHeader& h, std::string_view payload, int codec) {
    std::string buffer;
    std::string_view values;
    ENTRENAR_RETURN_IF_ERROR(PageParts(h, payload, codec, &buffer, &values));
    if (leaf_.max_def == 0) def_.assign(static_cast<std::size_t>(h.num_values), 0);
    if (leaf_.max_rep == 0) rep_.assign(static_cast<std::size_t>(h.num_values), 0);
    const auto max_def = static_cast<std::uint32_t>(leaf_.max_def);
    const auto present = static_cast<std::size_t>(std::count(def_.begin(), def_.end(), max_def));
    Values page;
    const std::string err =
        DecodeValues(leaf_, h.encoding, values, present, dictionary_.get(), &page);
    if (!err.empty()) return Bad(err);
    if (page.size(kind_) != present) return Bad("a page holds fewer values than its levels say");
    return leaf_.max_rep == 0 ? AppendFlat(page) : AppendList(page);
  }

  void Push(const Values& page, std::size_t at) {
    if (kind_ == ParquetKind::kDouble) {
      out_->doubles.push_back(page.doubles[at]);
    } else if (kind_ == ParquetKind::kBytes) {
      out_->bytes.push_back(page.bytes[at]);
    } else {
      out_->integers.push_back(page.integers[at]);
    }
  }
  void PushNull() {
    if (kind_ == ParquetKind::kDouble) {
      out_->doubles.push_back(0);
    } else if (kind_ == ParquetKind::kBytes) {
      out_->bytes.emplace_back();
    } else {
      out_->integers.push_back(0);
    }
  }

  Status AppendFlat(Values& page) {
    const auto max_def = static_cast<std::uint32_t>(leaf_.max_def);
    if (leaf_.max_def == 0) {  // every cell present: the values as they are
      out_->valid.insert(out_->valid.end(), def_.size(), 1);
      auto move = [](auto& from, auto& to) {
        to.insert(to.end(), std::make_move_iterator(from.begin()),
                  std::make_move_iterator(from.end()));
      };
      move(page.integers, out_->integers);
      move(page.doubles, out_->doubles);
      move(page.bytes, out_->bytes);
      return OkStatus();
    }
    std::size_t at = 0;
    for (std::uint32_t d : def_) {
      const bool valid = d == max_def;
      out_->valid.push_back(valid);
      if (valid) {
        Push(page, at++);
      } else {
        PushNull();
      }
    }
    return OkStatus();
  }

  Status AppendList(const Values& page) {
    const auto max_def = static_cast<std::uint32_t>(leaf_.max_def);
    std::size_t at = 0;
    for (std::size_t i = 0; i < def_.size(); ++i) {
      if (rep_[i] == 0) {
        out_->valid.push_back(def_[i] >= static_cast<std::uint32_t>(leaf_.list_def));
        out_->offsets.push_back(out_->offsets.back());
      } else if (out_->valid.empty()) {
        return Bad("a list continues a row that never started");
      }
      if (def_[i] < static_cast<std::uint32_t>(leaf_.element_def)) continue;
      const bool valid = def_[i] == max_def;
      out_->element_valid.push_back(valid);
      if (valid) {
        Push(page, at++);
      } else {
        PushNull();
      }
      out_->offsets.back()++;
    }
    return OkStatus();
  }

  const Leaf& leaf_;
  const std::string& file_;
  std::int64_t* budget_;
  ParquetColumn* out_;
  ParquetKind kind_;
  std::unique_ptr<Values> dictionary_;
  std::vector<std::uint32_t> def_, rep_;
};

bool Chosen(const Leaf& leaf, const std::vector<std::string>& names) {
  if (names.empty()) return true;
  const std::string top = leaf.path.substr(0, leaf.path.find('.'));
  return std::any_of(names.begin(), names.end(), [&](const std::string& n) {
    return n == leaf.name || n == leaf.path || n == top;
  });
}

// The file's column names, in schema order, each once.
std::vector<std::string> ColumnNames(const FileMeta& meta) {
  std::vector<std::string> known;
  for (const Leaf& l : meta.leaves) {
    if (std::find(known.begin(), known.end(), l.name) == known.end()) known.push_back(l.name);
  }
  return known;
}

// Every name asked for is a column of the file; the reason when not.
Status CheckNames(const FileMeta& meta, const std::vector<std::string>& names,
                  const std::string& file) {
  const std::vector<std::string> known = ColumnNames(meta);
  for (const std::string& n : names) {
    const bool found = std::any_of(meta.leaves.begin(), meta.leaves.end(),
                                   [&](const Leaf& l) { return Chosen(l, {n}); });
    if (found) continue;
    std::string msg = file + " has no column `" + n + "`";
    const std::string hint = DidYouMean(Suggest(n, known));
    if (!hint.empty()) msg += "; " + hint;
    return NotFound(msg + " (its columns: " + JoinQuoted(known) + ")");
  }
  return OkStatus();
}

Result<ParquetTable> Read(Source& src, const ParquetReadOptions& options, const std::string& file) {
  const std::uint64_t size = src.size();
  std::string tail;
  if (size < 12) return DataLoss(file + ": not a Parquet file (shorter than its magic numbers)");
  ENTRENAR_RETURN_IF_ERROR(src.Read(size - 8, 8, &tail));
  std::string head;
  ENTRENAR_RETURN_IF_ERROR(src.Read(0, 4, &head));
  if (tail.compare(4, 4, "PARE") == 0) return Unimplemented(file + ": an encrypted Parquet file");
  if (head != "PAR1" || tail.compare(4, 4, "PAR1") != 0)
    return DataLoss(file + ": not a Parquet file (no PAR1 magic)");
  std::uint32_t footer_len = 0;
  std::memcpy(&footer_len, tail.data(), 4);
  if (footer_len > size - 12 || footer_len > kMaxFooter)
    return DataLoss(file + ": the Parquet footer's length is past the file's start");
  std::string footer;
  ENTRENAR_RETURN_IF_ERROR(src.Read(size - 8 - footer_len, footer_len, &footer));
  ENTRENAR_ASSIGN_OR_RETURN(const FileMeta meta, ParseFileMeta(footer, file));
  const std::vector<std::string> names =
      options.choose ? options.choose(ColumnNames(meta)) : options.columns;
  ENTRENAR_RETURN_IF_ERROR(CheckNames(meta, names, file));
  std::vector<std::size_t> chosen;
  for (std::size_t i = 0; i < meta.leaves.size(); ++i) {
    const Leaf& l = meta.leaves[i];
    if (!Chosen(l, names)) continue;
    if (!l.unsupported.empty()) {
      // Reading every column leaves out those entrenar cannot read; one asked for by name is an
      // error.
      if (names.empty()) continue;
      return Unimplemented(file + ": column " + l.name + " is " + l.unsupported +
                           "; entrenar reads flat columns, lists of numbers or strings, and "
                           "structs of those");
    }
    chosen.push_back(i);
  }
  ParquetTable table;
  table.columns.resize(chosen.size());
  std::int64_t budget = options.max_values;
  std::vector<ColumnReader> readers;
  for (std::size_t c = 0; c < chosen.size(); ++c)
    readers.emplace_back(meta.leaves[chosen[c]], file, &budget, &table.columns[c]);
  const std::uint64_t data_end = size - 8 - footer_len;
  std::string bytes;
  for (const RowGroup& g : meta.row_groups) {
    if (g.rows > options.max_values - table.rows)
      return Status(StatusCode::kResourceExhausted,
                    file + ": more rows than entrenar reads from one file at once");
    for (std::size_t c = 0; c < chosen.size(); ++c) {
      const Chunk& chunk = g.chunks[chosen[c]];
      const std::string& path = meta.leaves[chosen[c]].path;
      if (chunk.has_file_path)
        return Unimplemented(file + ": column " + path + " keeps its data in another file");
      std::int64_t start = chunk.data_page_offset;
      if (chunk.dictionary_page_offset >= 4 && chunk.dictionary_page_offset < start)
        start = chunk.dictionary_page_offset;
      if (start < 4 || chunk.total_compressed_size < 0 || chunk.num_values < 0 ||
          static_cast<std::uint64_t>(start) > data_end ||
          static_cast<std::uint64_t>(chunk.total_compressed_size) >
              data_end - static_cast<std::uint64_t>(start))
        return DataLoss(file + ": column " + path + ": its chunk is outside the file");
      ENTRENAR_RETURN_IF_ERROR(src.Read(static_cast<std::uint64_t>(start),
                                        static_cast<std::size_t>(chunk.total_compressed_size),
                                        &bytes));
      ENTRENAR_RETURN_IF_ERROR(readers[c].ReadChunk(bytes, chunk, g.rows));
    }
    table.rows += g.rows;
  }
  if (!chosen.empty() && static_cast<std::int64_t>(table.columns[0].rows()) != table.rows)
    return DataLoss(file + ": the row groups' row counts disagree with the columns");
  return table;
}

}  // namespace

Result<ParquetTable> ReadParquet(std::string_view bytes, const ParquetReadOptions& options,
                                 const std::string& name) {
  MemorySource src(bytes);
  return Read(src, options, name);
}

Result<ParquetTable> ReadParquetFile(const std::string& path, const ParquetReadOptions& options) {
  Result<int> fd = OpenForReading(path);
  if (!fd.ok() && fd.status().code() == StatusCode::kNotFound)
    return NotFound("data file not found: " + path);
  ENTRENAR_RETURN_IF_ERROR(fd.status());
  struct stat st {};
  if (::fstat(*fd, &st) != 0) {
    ::close(*fd);
    return DataLoss("cannot read " + path + ": " + std::strerror(errno));
  }
  FileSource src(*fd, static_cast<std::uint64_t>(st.st_size), path);
  return Read(src, options, path);
}

}  // namespace entrenar::formats
