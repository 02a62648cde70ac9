// Parquet's FileMetaData (parquet.thrift) read with the compact protocol: the schema tree walked
// into leaves with their definition and repetition levels, and the row groups' column chunks.
#include "parquet_meta.h"

#include <tuple>

#include "thrift_compact.h"

namespace entrenar::formats::parquet {
namespace {

using thrift::CompactReader;

// Converted (legacy) and logical type annotations the reader looks at.
constexpr int kConvertedUtf8 = 0, kConvertedMap = 1, kConvertedMapKeyValue = 2, kConvertedList = 3,
              kConvertedEnum = 4, kConvertedDecimal = 5, kConvertedUint8 = 11,
              kConvertedUint64 = 14, kConvertedJson = 19;
constexpr int kLogicalString = 1, kLogicalMap = 2, kLogicalList = 3, kLogicalEnum = 4,
              kLogicalDecimal = 5, kLogicalInteger = 10, kLogicalJson = 12, kLogicalFloat16 = 15;
// Deeper schemas are refused: the walk recurses once per level.
constexpr int kMaxDepth = 32;

struct Node {
  std::string name;
  int type = -1, type_length = 0, repetition = kRequired, children = 0;
  int converted = -1, scale = 0;
  int logical = -1, logical_scale = 0;
  bool logical_signed = true;
};

void ReadLogicalType(CompactReader& r, Node* n) {
  r.BeginStruct();
  for (auto [id, t] = r.Field(); t != 0 && r.ok(); std::tie(id, t) = r.Field()) {
    n->logical = id;
    if (t != thrift::kStruct) {
      r.Skip(t);
      continue;
    }
    r.BeginStruct();
    for (auto [fid, ft] = r.Field(); ft != 0 && r.ok(); std::tie(fid, ft) = r.Field()) {
      const std::int64_t v = r.Value(ft);
      if (id == kLogicalDecimal && fid == 1) n->logical_scale = static_cast<int>(v);
      if (id == kLogicalInteger && fid == 2) n->logical_signed = v != 0;
    }
    r.EndStruct();
  }
  r.EndStruct();
}

Node ReadNode(CompactReader& r) {
  Node n;
  r.BeginStruct();
  for (auto [id, t] = r.Field(); t != 0 && r.ok(); std::tie(id, t) = r.Field()) {
    switch (id) {
      case 4:
        n.name = r.Binary();
        break;
      case 10:
        ReadLogicalType(r, &n);
        break;
      default: {
        const auto v = static_cast<int>(r.Value(t));
        if (id == 1) n.type = v;
        if (id == 2) n.type_length = v;
        if (id == 3) n.repetition = v;
        if (id == 5) n.children = v;
        if (id == 6) n.converted = v;
        if (id == 7) n.scale = v;
      }
    }
  }
  r.EndStruct();
  return n;
}

bool IsList(const Node& n) { return n.logical == kLogicalList || n.converted == kConvertedList; }
bool IsMap(const Node& n) {
  return n.logical == kLogicalMap || n.converted == kConvertedMap ||
         n.converted == kConvertedMapKeyValue;
}

// The leaf's reading rules from its annotations.
void Annotate(const Node& n, Leaf* leaf) {
  leaf->type = n.type;
  leaf->type_length = n.type_length;
  leaf->text = n.logical == kLogicalString || n.logical == kLogicalEnum ||
               n.logical == kLogicalJson || n.converted == kConvertedUtf8 ||
               n.converted == kConvertedEnum || n.converted == kConvertedJson;
  if (n.logical == kLogicalDecimal) leaf->decimal_scale = n.logical_scale;
  if (n.logical != kLogicalDecimal && n.converted == kConvertedDecimal)
    leaf->decimal_scale = n.scale;
  leaf->is_unsigned = (n.logical == kLogicalInteger && !n.logical_signed) ||
                      (n.converted >= kConvertedUint8 && n.converted <= kConvertedUint64);
  leaf->float16 = n.logical == kLogicalFloat16;
}

// Walks the flattened schema (pre-order, each group followed by its children) into leaves.
class SchemaWalk {
 public:
  SchemaWalk(const std::vector<Node>& nodes, std::vector<Leaf>* leaves)
      : nodes_(nodes), leaves_(leaves) {}

  struct Context {
    std::string path;
    int def = 0, rep = 0, depth = 0;
    std::string list_name;  // set below a repeated node
    int list_def = 0, element_def = 0;
    std::string unsupported;
  };

  // Walks the node at next_ and its subtree; false when the tree is malformed.
  bool Walk(const Context& parent, const Node* parent_node) {
    if (next_ >= nodes_.size() || parent.depth > kMaxDepth) return false;
    const Node& n = nodes_[next_++];
    Context c = parent;
    c.depth++;
    c.path = parent.path.empty() ? n.name : parent.path + "." + n.name;
    if (n.repetition != kRequired) c.def++;
    if (n.repetition == kRepeated) {
      c.rep++;
      if (c.rep > 1 && c.unsupported.empty()) c.unsupported = "a list of lists";
      c.list_name = parent_node && IsList(*parent_node) ? parent.path : c.path;
      c.list_def = parent.def;
      c.element_def = c.def;
      if (n.children > 1 && c.unsupported.empty()) c.unsupported = "a list of structs";
      if (n.children == 1 && nodes_.size() > next_ && nodes_[next_].children > 0 &&
          c.unsupported.empty())
        c.unsupported = "a list of structs or lists";
    }
    if (IsMap(n) && c.unsupported.empty()) c.unsupported = "a map";
    if (n.children <= 0) {
      Leaf leaf;
      leaf.path = c.path;
      leaf.name = c.rep > 0 ? c.list_name : c.path;
      leaf.max_def = c.def;
      leaf.max_rep = c.rep;
      leaf.list_def = c.list_def;
      leaf.element_def = c.element_def;
      leaf.unsupported = c.unsupported;
      Annotate(n, &leaf);
      if (n.type < kBoolean || n.type > kFixedLenByteArray) return false;
      leaves_->push_back(std::move(leaf));
      return true;
    }
    for (int i = 0; i < n.children; ++i) {
      if (!Walk(c, &n)) return false;
    }
    return true;
  }

  std::size_t next() const { return next_; }
  void Skip() { ++next_; }

 private:
  const std::vector<Node>& nodes_;
  std::vector<Leaf>* leaves_;
  std::size_t next_ = 0;
};

void ReadColumnMeta(CompactReader& r, Chunk* c) {
  r.BeginStruct();
  for (auto [id, t] = r.Field(); t != 0 && r.ok(); std::tie(id, t) = r.Field()) {
    if (id == 3) {
      const auto [element, n] = r.BoundedList();
      for (std::size_t i = 0; i < n && r.ok(); ++i) c->path += (i ? "." : "") + r.Binary();
      (void)element;
      continue;
    }
    const std::int64_t v = r.Value(t);
    if (id == 1) c->type = static_cast<int>(v);
    if (id == 4) c->codec = static_cast<int>(v);
    if (id == 5) c->num_values = v;
    if (id == 7) c->total_compressed_size = v;
    if (id == 9) c->data_page_offset = v;
    if (id == 11) c->dictionary_page_offset = v;
  }
  r.EndStruct();
}

RowGroup ReadRowGroup(CompactReader& r) {
  RowGroup g;
  r.BeginStruct();
  for (auto [id, t] = r.Field(); t != 0 && r.ok(); std::tie(id, t) = r.Field()) {
    if (id == 3) {
      g.rows = r.Value(t);
      continue;
    }
    if (id != 1 || t != thrift::kList) {
      r.Skip(t);
      continue;
    }
    const auto [element, n] = r.BoundedList();
    for (std::size_t i = 0; i < n && r.ok(); ++i) {
      Chunk chunk;
      r.BeginStruct();
      for (auto [cid, ct] = r.Field(); ct != 0 && r.ok(); std::tie(cid, ct) = r.Field()) {
        if (cid == 1) chunk.has_file_path = true;
        if (cid == 3) {
          ReadColumnMeta(r, &chunk);
        } else {
          r.Skip(ct);
        }
      }
      r.EndStruct();
      g.chunks.push_back(std::move(chunk));
    }
    (void)element;
  }
  r.EndStruct();
  return g;
}

Status Damaged(const std::string& file, const std::string& what) {
  return DataLoss(file + ": the Parquet footer is damaged (" + what + ")");
}

}  // namespace

std::string CodecName(int c) {
  static const char* const kNames[] = {"UNCOMPRESSED", "SNAPPY", "GZIP", "LZO",
                                       "BROTLI",       "LZ4",    "ZSTD", "LZ4_RAW"};
  if (c >= 0 && c < 8) return kNames[c];
  return "codec " + std::to_string(c);
}

Result<FileMeta> ParseFileMeta(std::string_view footer, const std::string& file) {
  CompactReader r(footer, 0);
  FileMeta meta;
  std::vector<Node> nodes;
  for (auto [id, t] = r.Field(); t != 0 && r.ok(); std::tie(id, t) = r.Field()) {
    if (id == 2 && t == thrift::kList) {
      const auto [element, n] = r.BoundedList();
      for (std::size_t i = 0; i < n && r.ok(); ++i) nodes.push_back(ReadNode(r));
      (void)element;
    } else if (id == 3) {
      meta.rows = r.Value(t);
    } else if (id == 4 && t == thrift::kList) {
      const auto [element, n] = r.BoundedList();
      for (std::size_t i = 0; i < n && r.ok(); ++i) meta.row_groups.push_back(ReadRowGroup(r));
      (void)element;
    } else {
      r.Skip(t);
    }
  }
  if (!r.ok()) return Damaged(file, "its Thrift encoding");
  if (nodes.empty()) return Damaged(file, "no schema");
  SchemaWalk walk(nodes, &meta.leaves);
  walk.Skip();  // the root
  for (int i = 0; i < nodes[0].children; ++i) {
    if (!walk.Walk({}, &nodes[0])) return Damaged(file, "the schema tree");
  }
  if (walk.next() != nodes.size()) return Damaged(file, "the schema tree");
  if (meta.rows < 0) return Damaged(file, "a negative row count");
  for (const RowGroup& g : meta.row_groups) {
    if (g.chunks.size() != meta.leaves.size()) return Damaged(file, "a row group lacks columns");
    if (g.rows < 0) return Damaged(file, "a negative row count");
    for (std::size_t i = 0; i < g.chunks.size(); ++i) {
      if (g.chunks[i].type != meta.leaves[i].type || g.chunks[i].path != meta.leaves[i].path)
        return Damaged(file, "column " + meta.leaves[i].path + " has a chunk of another column");
    }
  }
  return meta;
}

}  // namespace entrenar::formats::parquet
