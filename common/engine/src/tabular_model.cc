// A sequential model on feature rows: classification (cross-entropy or bce) and regression.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "entrenar/base/files.h"
#include "entrenar/engine/metrics.h"
#include "entrenar/expr/value.h"
#include "entrenar/image/contact_sheet.h"
#include "entrenar/plan/split.h"

#include "llama.h"
#include "sequential_lora.h"
#include "task_model.h"

namespace entrenar::engine {
namespace {

using manifest::Manifest;

torch::Tensor ToTensor(const std::vector<float>& v, std::int64_t rows, std::int64_t cols) {
  if (rows == 0) return torch::empty({0, cols});
  return torch::tensor(v).reshape({rows, cols});
}

// The model's output per sample must be one value per class (one for regression and bce).
Status CheckOutput(const Manifest& m, const PreparedData& d, const Shape& out) {
  const bool classification = d.task == Task::kClassification;
  const bool binary = m.training.loss == "bce";
  if (binary && d.classes.size() != 2) {
    return InvalidArgument("training.loss: bce is binary cross-entropy, but the target `" +
                           d.target + "` has " + std::to_string(d.classes.size()) +
                           " classes; use cross_entropy");
  }
  const std::int64_t want =
      classification && !binary ? static_cast<std::int64_t>(d.classes.size()) : 1;
  if (out.size() != 1 || out[0] != want) {
    const std::string needs = binary ? "bce needs 1 (the logit of class `" + d.classes[1] + "`)"
                              : classification ? "the data has " + std::to_string(want) + " classes"
                                               : std::string("a regression target needs 1");
    return InvalidArgument("model.architecture.layers: the model outputs " + FormatShape(out) +
                           " values per sample but " + needs +
                           (out.size() == 1 ? "" : "; end with flatten and a linear layer"));
  }
  return OkStatus();
}

// An embedding first layer looks features up as ids: each must be an integer in range.
Status CheckIds(const Manifest& m, const PreparedData& d) {
  const auto& layers = m.model.architecture->layers;
  if (layers.empty() || !layers[0].embedding) return OkStatus();
  const std::int64_t n = layers[0].embedding->num_embeddings;
  const std::int64_t f = d.NumFeatures();
  for (const auto& [name, split] : {std::pair<const char*, const Split*>{"training", &d.train},
                                    {"validation", &d.val},
                                    {"test", &d.test}}) {
    for (std::size_t i = 0; i < split->x.size(); ++i) {
      const float v = split->x[i];
      if (v >= 0 && v < static_cast<float>(n) && std::floor(v) == v) continue;
      return InvalidArgument(
          "model.architecture.layers[0] (embedding): feature `" +
          d.features[i % static_cast<std::size_t>(f)] + "` holds " + expr::FormatDouble(v) +
          " in row " + std::to_string(i / static_cast<std::size_t>(f) + 1) + " of the " + name +
          " split; an embedding needs integer ids from 0 to " + std::to_string(n - 1) +
          " (raise num_embeddings, or do not normalize the id columns)");
    }
  }
  return OkStatus();
}

// The preprocessing a saved model applies to raw rows, as its metadata says.
nlohmann::ordered_json Preprocessing(const PreparedData& data) {
  nlohmann::ordered_json pre = {
      {"target", data.target},
      {"task", data.task == Task::kClassification ? "classification" : "regression"},
      {"features", data.features},
      {"classes", data.classes}};
  pre["fills"] = nlohmann::ordered_json::array();
  for (const FillValue& f : data.fills) {
    pre["fills"].push_back({{"column", f.column}, {"strategy", f.strategy}, {"value", f.value}});
  }
  pre["encodings"] = nlohmann::ordered_json::array();
  for (const Encoding& e : data.encodings) {
    pre["encodings"].push_back(
        {{"column", e.column}, {"method", e.method}, {"categories", e.categories}});
  }
  pre["scaling"] = nlohmann::ordered_json::array();
  for (const ColumnScale& s : data.scaling) {
    pre["scaling"].push_back(
        {{"column", s.column}, {"method", s.method}, {"shift", s.shift}, {"scale", s.scale}});
  }
  if (data.images) {
    const ImageData& im = *data.images;
    // What validation images went through, for whoever serves the model: the deterministic
    // steps (a random crop as the centre crop it is there), then /255 and normalize.
    nlohmann::ordered_json steps = nlohmann::ordered_json::array();
    for (const image::Transform& t : im.transforms) {
      using Kind = image::Transform::Kind;
      if (t.Random() && t.kind != Kind::kRandomCrop && t.kind != Kind::kRandomResizedCrop)
        continue;  // flips, jitter, rotations
      const char* name = t.kind == Kind::kResize       ? "resize"
                         : t.kind == Kind::kCenterCrop ? "center_crop"
                         : t.kind == Kind::kRandomCrop ? "center_crop"
                                                       : "random_resized_crop";
      nlohmann::ordered_json step = {{"size", t.size}};
      if (t.kind == Kind::kRandomResizedCrop) step["ratio"] = {t.ratio_min, t.ratio_max};
      steps.push_back({{name, step}});
    }
    pre["image"] = {{"channels", im.channels}, {"height", im.height}, {"width", im.width},
                    {"transforms", steps},     {"mean", im.mean},     {"std", im.std}};
  }
  return pre;
}

class TabularModel : public TaskModel {
 public:
  TabularModel(const Manifest& m, const Precision& prec, PreparedData data,
               torch::nn::Sequential model)
      : m_(m), prec_(prec), data_(std::move(data)), model_(std::move(model)) {
    net_ = model_.ptr();
  }

  // Image splits: training rows as indices (BatchInputs makes their pixels), validation and test
  // images as uint8 NCHW.
  void MakeImageSplits() {
    const PreparedData& d = data_;
    const ImageData& im = *d.images;
    const auto pixels = [&](const Split& s) {
      if (s.rows == 0) return torch::empty({0, im.channels, im.height, im.width}, torch::kByte);
      return torch::from_blob(const_cast<std::uint8_t*>(s.pixels.data()),
                              {s.rows, im.channels, im.height, im.width}, torch::kByte)
          .clone();
    };
    splits_.train_x = torch::arange(d.train.rows, torch::kLong);
    splits_.train_y = torch::tensor(d.train.y);
    splits_.val_x = pixels(d.val);
    splits_.val_y = d.val.rows ? torch::tensor(d.val.y) : torch::empty({0});
    splits_.test_x = pixels(d.test);
    splits_.test_y = d.test.rows ? torch::tensor(d.test.y) : torch::empty({0});
    data_.val.pixels = {};
    data_.test.pixels = {};
  }

  InputBuilder TrainingInputs() const override {
    return data_.images ? ImageBatchInputs(data_, 0) : InputBuilder();
  }

  BatchBuilder TrainingBatches(std::int64_t epoch) const override {
    if (!data_.images) return {};
    return
        [inputs = ImageBatchInputs(data_, epoch), y = splits_.train_y](const torch::Tensor& rows) {
          return std::pair{inputs(rows), y.index_select(0, rows)};
        };
  }

  // The splits as tensors; an embedding first layer takes its ids as float32.
  void MakeSplits() {
    if (data_.images) return MakeImageSplits();
    const auto& layers = m_.model.architecture->layers;
    const torch::ScalarType dtype = layers[0].embedding ? torch::kFloat : prec_.param_dtype;
    const std::int64_t f = data_.NumFeatures();
    const PreparedData& d = data_;
    splits_.train_x = ToTensor(d.train.x, d.train.rows, f).to(dtype);
    splits_.train_y = torch::tensor(d.train.y);
    splits_.val_x = ToTensor(d.val.x, d.val.rows, f).to(dtype);
    splits_.val_y = d.val.rows ? torch::tensor(d.val.y) : torch::empty({0});
    splits_.test_x = ToTensor(d.test.x, d.test.rows, f).to(dtype);
    splits_.test_y = d.test.rows ? torch::tensor(d.test.y) : torch::empty({0});
  }

  std::string Describe() const {
    const PreparedData& d = data_;
    const std::string input = d.images ? "images of " + std::to_string(d.images->channels) + " x " +
                                             std::to_string(d.images->height) + " x " +
                                             std::to_string(d.images->width)
                                       : std::to_string(d.NumFeatures()) + " features";
    return "data: " + std::to_string(d.train.rows) + " train, " + std::to_string(d.val.rows) +
           " val, " + std::to_string(d.test.rows) + " test " + (d.images ? "images" : "rows") +
           "; " + input + "; " +
           (Classification() ? std::to_string(d.classes.size()) + " classes" : "regression") +
           "; device " + DeviceName(prec_.device);
  }

  std::string ParameterPrefix() const override { return "layers."; }
  std::int64_t Parameters() const override {
    std::int64_t n = 0;
    for (const auto& p : model_->parameters()) n += p.numel();
    return n;
  }
  std::vector<std::string> Classes() const override { return data_.classes; }
  std::vector<std::string> Skipped() const override { return data_.skipped; }

  torch::Tensor TrainLoss(const torch::Tensor& xb, const torch::Tensor& yb) override {
    return Loss(SeqForward(xb).to(torch::kFloat), yb);
  }

  std::map<std::string, double> Evaluate(const torch::Tensor& x, const torch::Tensor& y,
                                         const std::string& prefix, Confusion* confusion) override {
    std::map<std::string, double> out;
    if (x.size(0) == 0) return out;
    torch::NoGradGuard no_grad;
    model_->eval();
    const torch::Tensor logits = Forward(x);
    out[prefix + "loss"] = Loss(logits, y).item<double>();
    if (Classification()) {
      ClassMetrics(logits, y, prefix, confusion, &out);
    } else {
      const torch::Tensor pred = logits.squeeze(1).to(torch::kDouble).contiguous();
      const torch::Tensor truth = y.to(torch::kDouble).contiguous();
      std::vector<double> p(pred.data_ptr<double>(), pred.data_ptr<double>() + pred.numel());
      std::vector<double> t(truth.data_ptr<double>(), truth.data_ptr<double>() + truth.numel());
      for (const auto& [k, v] : RegressionMetrics(p, t)) out[prefix + k] = v;
    }
    model_->train();
    return out;
  }

  void Calibrate(const torch::Tensor& xb) override { SeqForward(xb); }

  // Linear and convolution modules' inputs; 8-bit, per tensor.
  void AddActivationQuantizers(const Manifest& m, const QuantSpec& spec, bool dynamic) override {
    std::size_t i = 0;
    for (auto& module : *model_) {
      const bool weighted = module.ptr()->as<torch::nn::Linear>() ||
                            module.ptr()->as<torch::nn::Conv1d>() ||
                            module.ptr()->as<torch::nn::Conv2d>();
      if (weighted && !Excluded(m, "layers." + std::to_string(i) + ".weight")) {
        hooks_.at.emplace(i, ActivationQuantizer(spec, dynamic));
      }
      ++i;
    }
  }

  formats::Safetensors CheckpointWeights() override { return Weights(model_); }
  Status LoadCheckpointWeights(const formats::Safetensors& st, const std::string& file) override {
    return LoadWeights(model_, st, file);
  }

  // The first num_samples validation rows (test rows without validation) with their target
  // and prediction.
  Result<Samples> Sample(const manifest::CallbackConfig& cb, std::uint64_t) override {
    Samples s;
    s.val = splits_.val_x.size(0) > 0;
    const torch::Tensor& x = s.val ? splits_.val_x : splits_.test_x;
    const torch::Tensor& y = s.val ? splits_.val_y : splits_.test_y;
    const std::int64_t n = std::min<std::int64_t>(cb.config.num_samples.value_or(10), x.size(0));
    if (n <= 0) return s;
    torch::NoGradGuard no_grad;
    model_->eval();
    const torch::Tensor logits = Forward(x.slice(0, 0, n));
    model_->train();
    std::int64_t right = 0;
    for (std::int64_t r = 0; r < n; ++r) {
      nlohmann::ordered_json row = {{"row", r}};
      if (data_.images) {
        const Split& split = s.val ? data_.val : data_.test;
        row["image"] =
            data_.images->sets[s.val ? 1 : 2]->Where(split.samples[static_cast<std::size_t>(r)]);
      }
      if (Classification()) {
        const torch::Tensor p = Probabilities(logits.slice(0, r, r + 1))[0];
        const auto pred = p.argmax().item<std::int64_t>();
        const auto truth = static_cast<std::int64_t>(y[r].item<double>());
        row["target"] = data_.classes[static_cast<std::size_t>(truth)];
        row["prediction"] = data_.classes[static_cast<std::size_t>(pred)];
        row["confidence"] = p[pred].item<double>();
        right += pred == truth;
      } else {
        row["target"] = y[r].item<double>();
        row["prediction"] = logits[r][0].item<double>();
      }
      s.rows.push_back(row);
    }
    s.what = Classification() ? std::to_string(right) + "/" + std::to_string(n) + " right"
                              : std::to_string(n) + " rows";
    if (data_.images) {  // without a sheet the rows still go to samples.jsonl
      if (Result<std::string> sheet = Sheet(x.slice(0, 0, n), s); sheet.ok()) s.sheet = *sheet;
    }
    return s;
  }

  // A contact sheet of the sampled images as the model saw them, captioned truth → prediction.
  Result<std::string> Sheet(const torch::Tensor& pixels, const Samples& s) const {
    std::vector<image::SheetTile> tiles;
    const torch::Tensor hwc = pixels.permute({0, 2, 3, 1}).contiguous();
    for (std::int64_t r = 0; r < hwc.size(0); ++r) {
      image::SheetTile t;
      t.image.height = static_cast<int>(hwc.size(1));
      t.image.width = static_cast<int>(hwc.size(2));
      t.image.channels = static_cast<int>(hwc.size(3));
      const std::uint8_t* p = hwc[r].data_ptr<std::uint8_t>();
      t.image.pixels.assign(p, p + hwc[r].numel());
      const auto& row = s.rows[static_cast<std::size_t>(r)];
      const std::string truth = row["target"], pred = row["prediction"];
      char confidence[16];
      std::snprintf(confidence, sizeof(confidence), " %.2f", row["confidence"].get<double>());
      t.caption = truth + " \u2192 " + pred + confidence;
      t.right = truth == pred;
      tiles.push_back(std::move(t));
    }
    return image::ContactSheet(std::string(s.val ? "validation" : "test") + " samples: " + s.what,
                               tiles);
  }

  // model.safetensors (or model.pt) with the preprocessing in its metadata.
  Result<std::vector<std::string>> Save(const std::string& dir) override {
    const bool pt = m_.output.model.format == "pt";
    const bool lora = m_.lora.enabled;
    formats::Safetensors st = lora ? MergedSequentialWeights(model_) : Weights(model_);
    st.metadata["format"] = "pt";
    st.metadata["entrenar.preprocessing"] = Preprocessing(data_).dump();
    st.metadata["entrenar.name"] = m_.name;
    st.metadata["entrenar.version"] = m_.version;
    if (pt) {
      ENTRENAR_RETURN_IF_ERROR(WritePt(model_, st.metadata, dir + "/model.pt"));
      return std::vector<std::string>{"model.pt"};
    }
    ENTRENAR_RETURN_IF_ERROR(formats::WriteSafetensorsFile(dir + "/model.safetensors", st));
    if (!lora) return std::vector<std::string>{"model.safetensors"};
    // The adapters too, in PEFT's layout (the layers by index, as PEFT names an nn.Sequential's).
    const formats::Safetensors adapters = SequentialAdapterWeights(model_);
    ENTRENAR_RETURN_IF_ERROR(
        formats::WriteSafetensorsFile(dir + "/adapter_model.safetensors", adapters));
    manifest::LoraConfig config = m_.lora;
    config.target_modules.clear();
    std::vector<std::string> layers;
    for (const formats::Tensor& t : adapters.tensors) {
      const std::string layer = t.name.substr(0, t.name.find(".lora_"));
      if (std::find(layers.begin(), layers.end(), layer) == layers.end()) layers.push_back(layer);
    }
    ENTRENAR_RETURN_IF_ERROR(
        WriteFileAtomic(dir + "/adapter_config.json",
                        AdapterConfigJson(config, layers, m_.model.source.value_or(""), "")));
    return std::vector<std::string>{"adapter_model.safetensors", "adapter_config.json",
                                    "model.safetensors"};
  }

 private:
  bool Classification() const { return data_.task == Task::kClassification; }
  bool Binary() const { return m_.training.loss == "bce"; }
  bool Wants(const std::string& metric) const {
    const auto& wanted = m_.training.validation.metrics;
    return wanted && std::find(wanted->begin(), wanted->end(), metric) != wanted->end();
  }

  // The forward, with activation quantizers before their modules.
  torch::Tensor SeqForward(const torch::Tensor& input) {
    const torch::Tensor x = ModelInput(input);
    if (hooks_.at.empty()) return model_->forward(x);
    torch::Tensor h = x;
    std::size_t i = 0;
    for (auto& module : *model_) h = module.forward(hooks_(i++, h));
    return h;
  }

  // Images (uint8) as the model reads them, in the parameters' dtype.
  torch::Tensor ModelInput(const torch::Tensor& x) {
    if (x.scalar_type() != torch::kByte) return x;
    return ImagesAsInput(x, *data_.images).to(prec_.param_dtype);
  }

  // The model's float32 outputs for `x` (on the CPU) in evaluation mode, a chunk at a time.
  torch::Tensor Forward(const torch::Tensor& x) {
    const std::int64_t chunk = data_.images
                                   ? m_.data.loader.batch_size
                                   : std::max<std::int64_t>(m_.data.loader.batch_size, 4096);
    std::vector<torch::Tensor> parts;
    for (std::int64_t i = 0; i < x.size(0); i += chunk) {
      const torch::Tensor xb = x.slice(0, i, std::min(x.size(0), i + chunk)).to(prec_.device);
      AutocastScope autocast(prec_);
      parts.push_back(SeqForward(xb).to(torch::kCPU, torch::kFloat));
    }
    return parts.size() == 1 ? parts[0] : torch::cat(parts);
  }

  torch::Tensor Loss(const torch::Tensor& out, const torch::Tensor& y) const {
    namespace F = torch::nn::functional;
    if (Binary()) return F::binary_cross_entropy_with_logits(out.squeeze(1), y);
    if (Classification()) return F::cross_entropy(out, y.to(torch::kLong));
    const torch::Tensor pred = out.squeeze(1);
    if (m_.training.loss == "l1") return F::l1_loss(pred, y);
    if (m_.training.loss == "huber") return F::huber_loss(pred, y);
    return F::mse_loss(pred, y);
  }

  // Class probabilities, one row per sample.
  torch::Tensor Probabilities(const torch::Tensor& logits) const {
    if (!Binary()) return torch::softmax(logits, 1);
    const torch::Tensor p1 = torch::sigmoid(logits);
    return torch::cat({1 - p1, p1}, 1);
  }

  // Accuracy, F1 and the rest; auc_roc and the confusion matrix when the manifest asks.
  void ClassMetrics(const torch::Tensor& logits, const torch::Tensor& y, const std::string& prefix,
                    Confusion* confusion, std::map<std::string, double>* out) const {
    const torch::Tensor probs = Probabilities(logits).contiguous();
    const torch::Tensor pred = probs.argmax(1).contiguous();
    const torch::Tensor truth = y.to(torch::kLong).contiguous();
    std::vector<std::int64_t> p(pred.data_ptr<std::int64_t>(),
                                pred.data_ptr<std::int64_t>() + pred.numel());
    std::vector<std::int64_t> t(truth.data_ptr<std::int64_t>(),
                                truth.data_ptr<std::int64_t>() + truth.numel());
    const auto classes = static_cast<std::int64_t>(data_.classes.size());
    for (const auto& [k, v] : ClassificationMetrics(p, t, classes)) (*out)[prefix + k] = v;
    if (Wants("auc_roc")) {
      const std::vector<float> pr(probs.data_ptr<float>(), probs.data_ptr<float>() + probs.numel());
      if (auto auc = AucRoc(pr, t, classes)) (*out)[prefix + "auc_roc"] = *auc;
    }
    if (confusion && Wants("confusion_matrix")) *confusion = ConfusionMatrix(p, t, classes);
  }

  const Manifest& m_;
  const Precision& prec_;
  PreparedData data_;
  torch::nn::Sequential model_;
};

// The weights `source` names: the file itself, or in a folder (a run's, a registry version's
// snapshot) its model.safetensors, else its model.pt.
std::string WeightsFile(const std::string& source) {
  std::error_code ec;
  if (!std::filesystem::is_directory(source, ec)) return source;
  for (const char* name : {"model.safetensors", "model.pt"}) {
    if (std::filesystem::exists(source + "/" + name, ec)) return source + "/" + name;
  }
  return source;  // read as it is: the reader's error names it
}

}  // namespace

InputBuilder ImageBatchInputs(const PreparedData& data, std::int64_t epoch) {
  return [&data, epoch](const torch::Tensor& rows) {
    const ImageData& im = *data.images;
    const std::int64_t n = rows.size(0);
    torch::Tensor out = torch::empty({n, im.channels, im.height, im.width}, torch::kByte);
    const std::size_t per = static_cast<std::size_t>(im.channels) * im.height * im.width;
    const torch::Tensor r = rows.to(torch::kLong).contiguous();
    for (std::int64_t i = 0; i < n; ++i) {
      Result<image::Image> image = TrainingImage(data, r.data_ptr<std::int64_t>()[i], epoch);
      if (!image.ok()) throw BatchError(image.status());
      ToPlanar(*image, out.data_ptr<std::uint8_t>() + static_cast<std::size_t>(i) * per);
    }
    return out;
  };
}

torch::Tensor ImagesAsInput(const torch::Tensor& pixels, const ImageData& images) {
  torch::Tensor f = pixels.to(torch::kFloat).div_(255);  // in place: no new buffers per batch
  if (images.mean.empty()) return f;
  const auto channel = [&](const std::vector<double>& v) {
    return torch::tensor(std::vector<float>(v.begin(), v.end()))
        .view({-1, 1, 1})
        .to(pixels.device());
  };
  return f.sub_(channel(images.mean)).div_(channel(images.std));
}

Result<TabularParts> BuildTabular(const Manifest& m, const PreparedData& d,
                                  const std::string& base_dir) {
  const Shape input = d.images ? Shape{d.images->channels, d.images->height, d.images->width}
                               : Shape{d.NumFeatures()};
  TabularParts parts;
  ENTRENAR_ASSIGN_OR_RETURN(parts.shapes, InferShapes(*m.model.architecture, input));
  ENTRENAR_RETURN_IF_ERROR(CheckOutput(m, d, parts.shapes.back()));
  ENTRENAR_RETURN_IF_ERROR(CheckIds(m, d));
  parts.model = BuildModel(m, input, parts.shapes);
  if (m.model.source) {
    const std::string file = WeightsFile(plan::ResolvePath(base_dir, *m.model.source));
    const bool pt = m.model.format
                        ? *m.model.format == "pt"
                        : file.size() > 3 && file.compare(file.size() - 3, 3, ".pt") == 0;
    ENTRENAR_ASSIGN_OR_RETURN(const formats::Safetensors st,
                              pt ? ReadPt(file) : formats::ReadSafetensorsFile(file));
    ENTRENAR_RETURN_IF_ERROR(LoadWeights(parts.model, st, "model.source: " + file));
  }
  if (m.lora.enabled) {
    ENTRENAR_ASSIGN_OR_RETURN(parts.lora_layers, ApplySequentialLora(parts.model, m.lora));
  }
  ENTRENAR_RETURN_IF_ERROR(ApplyFreeze(parts.model, m.model.freeze));
  ENTRENAR_ASSIGN_OR_RETURN(parts.groups, MakeGroups(parts.model, m.optimizer));
  return parts;
}

Result<std::unique_ptr<TaskModel>> MakeTabularModel(const Manifest& m, const TrainOptions& options,
                                                    const Precision& prec, PreparedData data,
                                                    Reporter& out) {
  ENTRENAR_ASSIGN_OR_RETURN(TabularParts parts, BuildTabular(m, data, options.base_dir));
  parts.model->to(prec.device, prec.param_dtype);
  auto task = std::make_unique<TabularModel>(m, prec, std::move(data), parts.model);
  task->MakeSplits();
  out.Log(task->Describe());
  const std::vector<std::string> skipped = task->Skipped();
  for (std::size_t i = 0; i < skipped.size() && i < 20; ++i) out.Log("skipped " + skipped[i]);
  if (skipped.size() > 20) out.Log("... and " + std::to_string(skipped.size() - 20) + " more");
  if (!skipped.empty()) {
    out.Log(std::to_string(skipped.size()) + " images skipped (data.image.on_error: skip)");
  }
  if (m.model.source) out.Log("weights loaded from " + *m.model.source);
  return std::unique_ptr<TaskModel>(std::move(task));
}

}  // namespace entrenar::engine
