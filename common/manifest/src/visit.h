#pragma once

// The one description of the manifest's shape. Each Visit lists a struct's keys with their
// rules; the Reader (YAML -> struct), the Writer (struct -> YAML) and the Describer (key list,
// JSON Schema, docs/manifest.md) all walk these same functions, so they cannot disagree.
#include <type_traits>

#include "entrenar/manifest/manifest.h"

#include "rule.h"

namespace entrenar::manifest {

// One-of item structs: a list item is a mapping with exactly one of their keys.
template <typename T>
struct IsOneOf : std::false_type {};
template <>
struct IsOneOf<PreprocessStep> : std::true_type {};
template <>
struct IsOneOf<AugmentStep> : std::true_type {};
template <>
struct IsOneOf<Layer> : std::true_type {};

inline const std::vector<std::string>& kDtypes() {
  static const std::vector<std::string> v = {"float32", "float16", "bfloat16"};
  return v;
}
inline Rule DtypeRule(std::string doc) {
  return R(std::move(doc))
      .OneOf(kDtypes())
      .Alias("fp32", "float32")
      .Alias("fp16", "float16")
      .Alias("bf16", "bfloat16")
      .Alias("half", "float16")
      .Alias("float", "float32");
}
inline Rule ModeRule(std::string doc) { return R(std::move(doc)).OneOf({"min", "max"}); }
inline Rule Probability(std::string doc) { return R(std::move(doc)).Min(0).Max(1); }
inline Rule Columns(std::string doc) { return R(std::move(doc)).Format("columns"); }

// ---- data ----
template <class V>
void Visit(V& v, SplitConfig& c) {
  v.Key("train", c.train, R("Fraction of rows for training.").Min(0).Max(1));
  v.Key("val", c.val, R("Fraction of rows for validation.").Min(0).Max(1));
  v.Key("test", c.test, R("Fraction of rows for the final test.").Min(0).Max(1));
  v.Key("stratify", c.stratify, R("Column whose class proportions every split keeps."));
  v.Key("seed", c.seed, R("Seed of the split; the global `seed` when omitted.").Min(0));
}
template <class V>
void Visit(V& v, NormalizeStep& c) {
  v.Key("columns", c.columns, Columns("Columns to scale; every numeric feature when omitted."));
  v.Key("method", c.method,
        R("Scaling fitted on the training split.").OneOf({"minmax", "zscore", "robust"}));
}
template <class V>
void Visit(V& v, EncodeStep& c) {
  v.Key("columns", c.columns, Columns("Categorical columns to encode.").Required().NonEmpty());
  v.Key("method", c.method, R("Encoding.").OneOf({"onehot", "label", "ordinal"}));
}
template <class V>
void Visit(V& v, DropStep& c) {
  v.Key("columns", c.columns, Columns("Columns to remove.").Required().NonEmpty());
}
template <class V>
void Visit(V& v, FillnaStep& c) {
  v.Key("strategy", c.strategy,
        R("How missing values are filled.").OneOf({"mean", "median", "mode", "constant"}));
  v.Key("value", c.value, R("The fill value of the `constant` strategy."));
  v.Key("columns", c.columns, Columns("Columns to fill; all when omitted."));
}
template <class V>
void Visit(V& v, TokenizeStep& c) {
  v.Key("tokenizer", c.tokenizer,
        R("SentencePiece `.model` or Hugging Face `tokenizer.json`: a path, or "
          "`hf://ORG/NAME[/FILE]` (the model repository's tokenizer.json, else "
          "tokenizer.model), fetched when the run starts, or `pacha://models/NAME:VERSION`.")
            .Format("uri")
            .Required()
            .NonEmpty());
  v.Key("max_length", c.max_length, R("Longest sequence in tokens.").Min(1));
  v.Key("padding", c.padding,
        R("Padding of batches: to the batch's `longest` sequence, to `max_length`, or `none` "
          "(examples packed end to end into windows of max_length tokens).")
            .OneOf({"max_length", "longest", "none"}));
  v.Key("truncation", c.truncation,
        R("Cut sequences longer than `max_length` (false: such a record is an error)."));
  v.Key("column", c.column,
        R("Text field of plain-text records (default `text`); records with `instruction` and "
          "`output` fields are instruction data."));
  v.Key("template", c.prompt_template,
        R("Prompt of instruction records: `alpaca` (the Stanford Alpaca prompt) or a text in "
          "which `{field}` is replaced by the record's field; the loss counts the `output` "
          "tokens only.")
            .NonEmpty());
}
template <class V>
void Visit(V& v, PreprocessStep& c) {
  v.Variant("normalize", c.normalize, R("Scale numeric columns."));
  v.Variant("encode", c.encode, R("Encode categorical columns."));
  v.Variant("drop", c.drop, R("Remove columns."));
  v.Variant("fillna", c.fillna, R("Fill missing values."));
  v.Variant("tokenize", c.tokenize, R("Tokenize text."));
}
template <class V>
void Visit(V& v, RandomCropStep& c) {
  v.Key("size", c.size,
        R("Crop size: [height, width] or [side].").Min(1).Max(16384).NonEmpty().Required());
  v.Key("padding", c.padding,
        R("Pixels of padding added on each side before cropping.").Min(0).Max(4096));
  v.Key("padding_mode", c.padding_mode,
        R("How padding is filled: with 0 (`constant`), the edge pixel, or the image mirrored "
          "without (`reflect`) or with (`symmetric`) its edge, as torchvision's RandomCrop.")
            .OneOf({"constant", "edge", "reflect", "symmetric"}));
}
template <class V>
void Visit(V& v, SizeStep& c) {
  v.Key("size", c.size,
        R("[height, width], or [side]: for resize the shorter edge's new length (the other "
          "scaled to keep the aspect), for a crop a square.")
            .Min(1)
            .Max(16384)
            .NonEmpty()
            .Required());
}
template <class V>
void Visit(V& v, RandomResizedCropStep& c) {
  v.Key("size", c.size,
        R("Output size: [height, width] or [side].").Min(1).Max(16384).NonEmpty().Required());
  v.Key("scale", c.scale,
        R("[min, max] of the crop's area as a fraction of the image's.").Above(0).Max(1));
  v.Key("ratio", c.ratio,
        R("[min, max] of the crop's aspect ratio (width / height).").Above(0).Max(100));
}
template <class V>
void Visit(V& v, RotationStep& c) {
  v.Key("degrees", c.degrees,
        R("Rotate counter-clockwise by an angle drawn from [-degrees, degrees].")
            .Min(0)
            .Max(180)
            .Required());
  v.Key("fill", c.fill, R("Value of the pixels that come from outside the image.").Min(0).Max(255));
}
template <class V>
void Visit(V& v, ProbabilityStep& c) {
  v.Key("probability", c.probability, Probability("Chance of flipping an image."));
}
template <class V>
void Visit(V& v, TokenProbabilityStep& c) {
  v.Key("probability", c.probability, Probability("Chance of the step for each token."));
}
template <class V>
void Visit(V& v, ColorJitterStep& c) {
  v.Key("brightness", c.brightness,
        R("Brightness factor drawn from [1 - x, 1 + x] (floored at 0).").Min(0).Max(100));
  v.Key("contrast", c.contrast,
        R("Contrast factor drawn from [1 - x, 1 + x] (floored at 0).").Min(0).Max(100));
  v.Key("saturation", c.saturation,
        R("Saturation factor drawn from [1 - x, 1 + x] (floored at 0).").Min(0).Max(100));
  v.Key("hue", c.hue, R("Hue jitter.").Min(0).Max(0.5));
}
template <class V>
void Visit(V& v, NormalizeImageStep& c) {
  v.Key("mean", c.mean, R("Per-channel mean.").Required().NonEmpty());
  v.Key("std", c.std, R("Per-channel standard deviation.").Required().NonEmpty().Above(0));
}
template <class V>
void Visit(V& v, BackTranslateStep& c) {
  v.Key("languages", c.languages, R("Pivot languages.").Required().NonEmpty());
  v.Key("probability", c.probability, Probability("Chance of applying the step to a sample."));
}
template <class V>
void Visit(V& v, AugmentStep& c) {
  v.Variant("resize", c.resize,
            R("Resize images (Pillow's antialiased bilinear, as torchvision's Resize); every "
              "split."));
  v.Variant("center_crop", c.center_crop,
            R("Crop the centre of images (padded with 0 when larger); every split."));
  v.Variant("random_crop", c.random_crop,
            R("Random crop of training images (validation and test images: a centre crop of "
              "this size)."));
  v.Variant("random_resized_crop", c.random_resized_crop,
            R("Random crop of a random area and aspect, resized to `size`, as torchvision's "
              "RandomResizedCrop (validation and test images: the largest centred box of an "
              "allowed aspect, resized)."));
  v.Variant("horizontal_flip", c.horizontal_flip,
            R("Mirror training images left-right with a probability."));
  v.Variant("vertical_flip", c.vertical_flip,
            R("Mirror training images top-bottom with a probability."));
  v.Variant("rotation", c.rotation,
            R("Rotate training images by a random angle about their centre, keeping their size "
              "(torchvision's RandomRotation: nearest pixel, corners filled with `fill`)."));
  v.Variant("color_jitter", c.color_jitter,
            R("Jitter training images' brightness, contrast, saturation and hue in a random "
              "order, as torchvision's ColorJitter (Pillow's ImageEnhance and HSV)."));
  v.Variant("normalize", c.normalize,
            R("Normalize image channels after scaling pixels to [0, 1]: (x - mean) / std; every "
              "split; after the other image steps."));
  v.Variant("random_swap", c.random_swap,
            R("Language models: each token of a training example's text (of an instruction "
              "record's prompt) trades places, with the probability, with another one of the "
              "example; drawn again each epoch."));
  v.Variant("random_delete", c.random_delete,
            R("Language models: each token of a training example's text (of an instruction "
              "record's prompt) is dropped with the probability, one kept; drawn again each "
              "epoch."));
  v.Variant("back_translate", c.back_translate,
            R("Paraphrase by translation.")
                .NotBuilt("back-translation needs translation models, which entrenar does not "
                          "run: translate the data beforehand (e.g. with a MarianMT model) and "
                          "add the paraphrases to the training file"));
}
template <class V>
void Visit(V& v, ImageConfig& c) {
  v.Key("color", c.color,
        R("Channels images are decoded to: `rgb` (3; grey images repeated, alpha dropped, as "
          "torchvision's ImageFolder), `grey` (1), or `auto`: grey for idx files, rgb "
          "otherwise.")
            .OneOf({"auto", "rgb", "grey"}));
  v.Key("column", c.column,
        R("A table whose rows are images: the column holding each image, as a path (relative "
          "to the table's folder) or as the file's bytes. The Hugging Face Hub's image data "
          "sets keep `{bytes, path}` structs in Parquet: name the struct (`image`) and its "
          "bytes are read (else its path). The label is data.target.")
            .NonEmpty());
  v.Key("on_error", c.on_error,
        R("An image that cannot be read (damaged, truncated, not PNG, JPEG or WebP): `fail` stops "
          "the "
          "run naming it; `skip` checks every image when the run starts, leaves the bad ones "
          "out, logs them and counts them in summary.json (`skipped_images`).")
            .OneOf({"fail", "skip"}));
}
template <class V>
void Visit(V& v, LoaderConfig& c) {
  v.Key("batch_size", c.batch_size, R("Samples per batch.").Min(1));
  v.Key("shuffle", c.shuffle, R("Shuffle the training set every epoch (seed + epoch)."));
  v.Key("num_workers", c.num_workers, R("Background threads preparing batches.").Min(0));
  v.Key("pin_memory", c.pin_memory, R("Page-locked host memory for faster GPU copies."));
  v.Key("drop_last", c.drop_last, R("Drop the last incomplete batch of an epoch."));
  v.Key("prefetch_factor", c.prefetch_factor, R("Batches prepared ahead per worker.").Min(1));
  v.Key("seed", c.seed,
        R("Shuffle seed (each epoch: seed + epoch); the global `seed` when omitted.").Min(0));
}
template <class V>
void Visit(V& v, DataConfig& c) {
  v.Key("source", c.source,
        R("The data set: a local file, a pattern of files read in order as one table "
          "(`data/train-*.parquet`), or `hf://ORG/NAME[@REVISION][/PATH]`: under `data.*` a "
          "data set repository on the Hugging Face Hub (`hf://datasets/ORG/NAME` anywhere), "
          "its `train` split; or `s3://BUCKET/KEY` (a folder when it ends in `/`); fetched "
          "when the run starts; or `pacha://datasets/NAME:VERSION` from the local registry "
          "(`entrenar registry add`).")
            .Format("uri")
            .NonEmpty());
  v.Key("format", c.format,
        R("File format; `auto` detects it from the path: a table by its extension, a folder "
          "of class folders as `images` (torchvision's ImageFolder layout), a name holding "
          "`idx3-ubyte` as MNIST's `idx` (labels beside it), `.bin` as `cifar` batches.")
            .OneOf({"auto", "parquet", "csv", "tsv", "json", "jsonl", "ald", "arrow", "images",
                    "idx", "cifar"}));
  v.Key("target", c.target, R("The label column (entrenar extension).").NonEmpty());
  v.Key("split", c.split,
        R("Split `source` into train/val/test by ratio; 0.8/0.1/0.1 when "
          "omitted and no train/val/test files are named."));
  v.Key("train", c.train,
        R("Explicit training file (instead of `split`), as `source`; from `hf://`, the "
          "repository's `train` split.")
            .Format("uri"));
  v.Key("val", c.val,
        R("Explicit validation file; from `hf://`, the repository's `validation` split.")
            .Format("uri"));
  v.Key("test", c.test,
        R("Explicit test file; from `hf://`, the repository's `test` split.").Format("uri"));
  v.Key("preprocessing", c.preprocessing,
        R("Steps applied in order; statistics fitted on the "
          "training split."));
  v.Key("augmentation", c.augmentation,
        R("Image transforms in order: random ones on training images (drawn per epoch and "
          "sample from the seed), the deterministic ones (resize, center_crop, normalize) on "
          "every split; validation and test images skip flips and crop a random_crop's size "
          "from the centre."));
  v.Key("image", c.image, R("How images are decoded (image data sets)."));
  v.Key("loader", c.loader, R("How batches are formed."));
}

// ---- model ----
template <class V>
void Visit(V& v, LinearLayer& c) {
  v.Key("in_features", c.in_features, R("Input width.").Min(1).Required());
  v.Key("out_features", c.out_features, R("Output width.").Min(1).Required());
  v.Key("bias", c.bias, R("Learn an additive bias."));
}
template <class V>
void Visit(V& v, ConvLayer& c) {
  v.Key("in_channels", c.in_channels, R("Input channels.").Min(1).Required());
  v.Key("out_channels", c.out_channels, R("Output channels.").Min(1).Required());
  v.Key("kernel_size", c.kernel_size, R("Kernel size.").Min(1).Required());
  v.Key("stride", c.stride, R("Stride.").Min(1));
  v.Key("padding", c.padding, R("Zero padding.").Min(0));
  v.Key("bias", c.bias, R("Learn an additive bias."));
}
template <class V>
void Visit(V& v, PoolLayer& c) {
  v.Key("kernel_size", c.kernel_size, R("Window size.").Min(1).Required());
  v.Key("stride", c.stride, R("Stride; `kernel_size` when omitted.").Min(1));
  v.Key("padding", c.padding, R("Padding.").Min(0));
}
template <class V>
void Visit(V& v, FlattenLayer& c) {
  v.Key("start_dim", c.start_dim, R("First dimension to flatten."));
  v.Key("end_dim", c.end_dim, R("Last dimension to flatten."));
}
template <class V>
void Visit(V& v, BatchNormLayer& c) {
  v.Key("num_features", c.num_features, R("Features (or channels) normalized.").Min(1).Required());
  v.Key("eps", c.eps, R("Added to the variance.").Above(0));
  v.Key("momentum", c.momentum, R("Running-statistics momentum.").Min(0).Max(1));
}
template <class V>
void Visit(V& v, LayerNormLayer& c) {
  v.Key("normalized_shape", c.normalized_shape, R("Width normalized.").Min(1).Required());
  v.Key("eps", c.eps, R("Added to the variance.").Above(0));
}
template <class V>
void Visit(V& v, EmbeddingLayer& c) {
  v.Key("num_embeddings", c.num_embeddings, R("Vocabulary size.").Min(1).Required());
  v.Key("embedding_dim", c.embedding_dim, R("Vector width.").Min(1).Required());
}
template <class V>
void Visit(V& v, ReshapeLayer& c) {
  v.Key("shape", c.shape,
        R("Each sample's new shape without the batch dimension; one entry may be -1.")
            .Required()
            .NonEmpty());
}
template <class V>
void Visit(V& v, DropoutLayer& c) {
  v.Key("p", c.p, R("Probability of zeroing an element.").Min(0).Below(1));
}
template <class V>
void Visit(V& v, ActivationLayer& c) {
  v.Key("type", c.type,
        R("The function.")
            .OneOf({"relu", "gelu", "silu", "tanh", "sigmoid", "leaky_relu", "softmax",
                    "log_softmax"}));
  v.Key("negative_slope", c.negative_slope, R("Slope of leaky_relu below zero.").Min(0));
  v.Key("dim", c.dim, R("Dimension of softmax."));
}
template <class V>
void Visit(V& v, Layer& c) {
  v.Variant("linear", c.linear, R("Fully connected layer."));
  v.Variant("conv1d", c.conv1d, R("1-D convolution."));
  v.Variant("conv2d", c.conv2d, R("2-D convolution."));
  v.Variant("max_pool1d", c.max_pool1d, R("1-D max pooling."));
  v.Variant("max_pool2d", c.max_pool2d, R("2-D max pooling."));
  v.Variant("avg_pool1d", c.avg_pool1d, R("1-D average pooling."));
  v.Variant("avg_pool2d", c.avg_pool2d, R("2-D average pooling."));
  v.Variant("flatten", c.flatten, R("Flatten to one feature dimension."));
  v.Variant("reshape", c.reshape,
            R("Reshape each sample (an entrenar extension); `reshape: [1, 8, 8]` is short for "
              "`{shape: [1, 8, 8]}`.")
                .Shorthand("shape"));
  v.Variant("batchnorm", c.batchnorm, R("Batch normalization."));
  v.Variant("layernorm", c.layernorm, R("Layer normalization."));
  v.Variant("embedding", c.embedding, R("Token embedding table."));
  v.Variant("dropout", c.dropout,
            R("Dropout; `dropout: 0.2` is short for `{p: 0.2}`.").Shorthand("p"));
  v.Variant("activation", c.activation,
            R("Activation; `activation: relu` is short for `{type: relu}`.").Shorthand("type"));
}
template <class V>
void Visit(V& v, ArchitectureConfig& c) {
  v.Key("type", c.type, R("Model family.").OneOf({"sequential", "transformer"}).Required());
  v.Key("layers", c.layers, R("The layers of a `sequential` model, in order."));
  v.Key("hidden_size", c.hidden_size, R("Transformer width.").Min(1));
  v.Key("num_layers", c.num_layers, R("Transformer blocks.").Min(1));
  v.Key("num_heads", c.num_heads, R("Attention heads.").Min(1));
  v.Key("num_kv_heads", c.num_kv_heads, R("Key/value heads (grouped-query attention).").Min(1));
  v.Key("intermediate_size", c.intermediate_size, R("MLP width.").Min(1));
  v.Key("vocab_size", c.vocab_size, R("Vocabulary size.").Min(1));
  v.Key("max_seq_length", c.max_seq_length, R("Longest sequence.").Min(1));
  v.Key("rms_norm_eps", c.rms_norm_eps, R("RMSNorm epsilon.").Above(0));
  v.Key("rope_theta", c.rope_theta, R("Rotary embedding base.").Above(0));
  v.Key("use_bias", c.use_bias, R("Biases in attention and MLP projections."));
  v.Key("tie_word_embeddings", c.tie_word_embeddings, R("Share input and output embeddings."));
}
template <class V>
void Visit(V& v, ModelConfig& c) {
  v.Key("source", c.source,
        R("Weights or model to start from: a local file or directory, or "
          "`hf://ORG/NAME[@REVISION][/PATH]`, a model repository on the Hugging Face Hub "
          "(its config, tokenizer and safetensors weights), or an `s3://BUCKET/PREFIX/` "
          "folder, fetched when the run starts, or `pacha://models/NAME:VERSION` from the local "
          "registry.")
            .Format("uri")
            .NonEmpty());
  v.Key("format", c.format,
        R("Format of `source`; from its extension when omitted.")
            .OneOf({"safetensors", "gguf", "apr", "pt"}));
  v.Key("architecture", c.architecture, R("The model's structure."));
  v.Key("freeze", c.freeze, R("Parameters to keep fixed, by name or glob.").Format("glob"));
  v.Key("device", c.device, R("`auto`, `cpu`, `cuda`, `cuda:N` or `mps`.").Format("device"));
  v.Key("dtype", c.dtype, DtypeRule("Parameter dtype."));
}

// ---- optimizer, scheduler ----
template <class V>
void Visit(V& v, ParamGroup& c) {
  v.Key("params", c.params,
        R("Parameter names matched by this glob.").Format("glob").Required().NonEmpty());
  v.Key("lr", c.lr, R("Learning rate of the group.").Above(0));
  v.Key("weight_decay", c.weight_decay, R("Weight decay of the group.").Min(0));
}
template <class V>
void Visit(V& v, OptimizerConfig& c) {
  v.Key("name", c.name,
        R("The algorithm.").OneOf({"sgd", "adam", "adamw", "rmsprop", "adagrad", "lamb"}));
  v.Key("lr", c.lr, R("Learning rate.").Above(0));
  v.Key("weight_decay", c.weight_decay, R("L2 penalty (decoupled for adamw and lamb).").Min(0));
  v.Key("betas", c.betas, R("Adam/AdamW/LAMB moment coefficients.").Length(2).Above(0).Below(1));
  v.Key("eps", c.eps, R("Added to denominators.").Above(0));
  v.Key("amsgrad", c.amsgrad, R("AMSGrad variant of Adam/AdamW."));
  v.Key("momentum", c.momentum, R("SGD/RMSprop momentum.").Min(0));
  v.Key("nesterov", c.nesterov, R("Nesterov momentum (SGD)."));
  v.Key("dampening", c.dampening, R("SGD momentum dampening.").Min(0));
  v.Key("alpha", c.alpha, R("RMSprop smoothing constant.").Min(0).Below(1));
  v.Key("centered", c.centered, R("Centered RMSprop."));
  v.Key("param_groups", c.param_groups, R("Per-parameter learning rate and weight decay."));
}
template <class V>
void Visit(V& v, WarmupConfig& c) {
  v.Key("steps", c.steps,
        R("Warmup length in steps (0 when neither steps nor ratio is given).").Min(0));
  v.Key("ratio", c.ratio, R("Warmup length as a fraction of all steps.").Min(0).Below(1));
  v.Key("start_lr", c.start_lr, R("Learning rate at step 0.").Min(0));
}
template <class V>
void Visit(V& v, SchedulerConfig& c) {
  v.Key("name", c.name,
        R("The schedule.")
            .OneOf({"constant", "step", "cosine", "cosine_annealing", "linear", "exponential",
                    "plateau", "one_cycle"}));
  v.Key("warmup", c.warmup, R("Linear warmup before the schedule (any schedule)."));
  v.Key("T_max", c.T_max, R("Cosine period in steps; the run's total steps when omitted.").Min(1));
  v.Key("eta_min", c.eta_min, R("Lowest learning rate of cosine and linear.").Min(0));
  v.Key("step_size", c.step_size, R("Steps between decays of `step`.").Min(1));
  v.Key("gamma", c.gamma, R("Decay factor of `step` and `exponential`.").Above(0).Max(1));
  v.Key("mode", c.mode, ModeRule("Plateau: whether `metric` should fall or rise."));
  v.Key("factor", c.factor, R("Plateau: factor applied to the learning rate.").Above(0).Below(1));
  v.Key("patience", c.patience, R("Plateau: validations without improvement.").Min(0));
  v.Key("threshold", c.threshold, R("Plateau: smallest change counted.").Min(0));
  v.Key("metric", c.metric, R("Plateau: the validation metric watched (entrenar extension)."));
  v.Key("max_lr", c.max_lr, R("One-cycle peak learning rate.").Above(0));
  v.Key("pct_start", c.pct_start, R("One-cycle fraction spent rising.").Above(0).Below(1));
  v.Key("anneal_strategy", c.anneal_strategy, R("One-cycle annealing.").OneOf({"cos", "linear"}));
  v.Key("div_factor", c.div_factor, R("One-cycle: initial lr = max_lr / div_factor.").Above(0));
  v.Key("final_div_factor", c.final_div_factor,
        R("One-cycle: final lr = initial lr / final_div_factor.").Above(0));
}

// ---- training ----
template <class V>
void Visit(V& v, GradientConfig& c) {
  v.Key("accumulation_steps", c.accumulation_steps, R("Micro-batches per optimizer step.").Min(1));
  v.Key("clip_norm", c.clip_norm, R("Clip the global L2 norm of gradients.").Above(0));
  v.Key("clip_value", c.clip_value, R("Clip each gradient element.").Above(0));
}
template <class V>
void Visit(V& v, MixedPrecisionConfig& c) {
  v.Key("enabled", c.enabled, R("Compute in half precision with float32 master weights."));
  v.Key("dtype", c.dtype, DtypeRule("Half-precision type.").OneOf({"float16", "bfloat16"}));
  v.Key("loss_scale", c.loss_scale,
        R("`dynamic`, `static`, or a positive number.").OneOf({"dynamic", "static"}).Above(0));
}
template <class V>
void Visit(V& v, DistributedConfig& c) {
  v.Key("strategy", c.strategy,
        R("Data-parallel strategy: `ddp` (every rank holds the model and averages gradients); "
          "`fsdp` and `deepspeed` are refused.")
            .OneOf({"ddp", "fsdp", "deepspeed"}));
  v.Key("world_size", c.world_size,
        R("Ranks (processes), one per GPU, or CPU ranks on a machine without GPUs; "
          "`data.loader.batch_size` is per rank.")
            .Min(1));
  v.Key("gradient_as_bucket_view", c.gradient_as_bucket_view,
        R("DDP's memory optimisation (gradients as views of the all-reduce buckets); only "
          "`false` is built."));
  v.Key("find_unused_parameters", c.find_unused_parameters,
        R("Let trainable parameters get no gradient in a step (they add zero); otherwise such a "
          "step is an error naming the parameter."));
}
template <class V>
void Visit(V& v, CheckpointConfig& c) {
  v.Key("save_every", c.save_every, R("Steps between checkpoints.").Min(1));
  v.Key("keep_last", c.keep_last, R("Checkpoints kept (older ones are deleted).").Min(1));
  v.Key("save_best", c.save_best,
        R("Also keep the best checkpoint by `metric`; by default "
          "whenever `metric` is computed."));
  v.Key("metric", c.metric, R("Metric that ranks checkpoints.").NonEmpty());
  v.Key("mode", c.mode, ModeRule("Whether lower or higher `metric` is better."));
}
template <class V>
void Visit(V& v, EarlyStoppingConfig& c) {
  v.Key("enabled", c.enabled, R("Stop when `metric` stops improving."));
  v.Key("metric", c.metric, R("Metric watched.").NonEmpty());
  v.Key("patience", c.patience, R("Validations without improvement before stopping.").Min(1));
  v.Key("min_delta", c.min_delta, R("Smallest change that counts as improvement.").Min(0));
  v.Key("mode", c.mode, ModeRule("Whether lower or higher `metric` is better."));
}
template <class V>
void Visit(V& v, CrossValidationConfig& c) {
  v.Key("folds", c.folds, R("Number of folds.").Min(2));
  v.Key("stratified", c.stratified, R("Keep class proportions in every fold."));
  v.Key("shuffle", c.shuffle, R("Shuffle before folding."));
}
template <class V>
void Visit(V& v, ValidationConfig& c) {
  v.Key("every", c.every, R("Validate every N steps.").Min(1));
  v.Key("every_epoch", c.every_epoch,
        R("Validate at the end of every epoch (the default); false, without `every`: once, "
          "at the end of training."));
  v.Key("metrics", c.metrics,
        R("Metrics computed on the validation split.")
            .OneOf({"loss", "accuracy", "precision", "recall", "f1", "auc_roc", "confusion_matrix",
                    "mse", "mae", "rmse", "r2", "perplexity"}));
  v.Key("cross_validation", c.cross_validation, R("K-fold cross-validation instead of holdout."));
}
template <class V>
void Visit(V& v, TrainingConfig& c) {
  v.Key("epochs", c.epochs, R("Passes over the training set; 10 when no budget is given.").Min(1));
  v.Key("max_steps", c.max_steps, R("Optimizer steps (instead of `epochs`).").Min(1));
  v.Key("duration", c.duration,
        R("Wall-clock budget (instead of `epochs`): `90s`, `1h30m`, "
          "`PT2H`.")
            .Format("duration"));
  v.Key("gradient", c.gradient, R("Accumulation and clipping."));
  v.Key("mixed_precision", c.mixed_precision, R("Automatic mixed precision."));
  v.Key("distributed", c.distributed,
        R("Data-parallel training: one process per rank (`entrenar train --devices`)."));
  v.Key("checkpoint", c.checkpoint, R("Checkpointing."));
  v.Key("early_stopping", c.early_stopping, R("Stop when the watched metric stalls."));
  v.Key("validation", c.validation, R("When and what to validate."));
  v.Key("deterministic", c.deterministic,
        R("Use deterministic CUDA and cuDNN algorithms only (CPU kernels are already)."));
  v.Key("benchmark", c.benchmark,
        R("Let cuDNN time and pick the fastest algorithms (GPU only; off when deterministic)."));
  v.Key("effective_batch_size", c.effective_batch_size,
        R("Stated batch_size x accumulation_steps; checked when given.").Min(1));
  v.Key("loss", c.loss,
        R("Loss; `auto` picks it from the target column (entrenar extension).")
            .OneOf({"auto", "cross_entropy", "bce", "mse", "l1", "huber"}));
}

// ---- lora, quantize ----
// Ranges of lora.* and quantize.* are checked in validate.cc: they are errors only when the
// section is enabled (SPEC fixtures accept odd values in a disabled section).
template <class V>
void Visit(V& v, LoraConfig& c) {
  v.Key("enabled", c.enabled, R("Train low-rank adapters instead of all weights."));
  v.Key("rank", c.rank, R("Rank r of the adapters (>= 1)."));
  v.Key("alpha", c.alpha, R("Scale numerator: updates are scaled by alpha / rank (> 0)."));
  v.Key("dropout", c.dropout, R("Dropout on the adapter input, in [0, 1)."));
  v.Key("target_modules", c.target_modules, R("Linear layers to adapt, by name."));
  v.Key("target_modules_pattern", c.target_modules_pattern,
        R("Linear layers to adapt, by regular expression.").Format("regex"));
  v.Key("bias", c.bias, R("Biases trained.").OneOf({"none", "all", "lora_only"}));
  v.Key("init_weights", c.init_weights,
        R("Initialisation of A (B starts at zero).").OneOf({"gaussian", "xavier", "kaiming"}));
  v.Key("quantize_base", c.quantize_base, R("QLoRA: store the base weights quantized."));
  v.Key("quantize_bits", c.quantize_bits, R("Bits of the quantized base: 2, 4 or 8."));
  v.Key("double_quantize", c.double_quantize, R("QLoRA: quantize the quantization constants."));
  v.Key("quant_type", c.quant_type, R("QLoRA 4-bit data type.").OneOf({"nf4", "fp4"}));
}
template <class V>
void Visit(V& v, QatConfig& c) {
  v.Key("enabled", c.enabled, R("Quantization-aware training."));
  v.Key("observer", c.observer, R("Range observer.").OneOf({"minmax", "histogram", "percentile"}));
}
template <class V>
void Visit(V& v, CalibrationConfig& c) {
  v.Key("samples", c.samples, R("Validation samples used for calibration.").Min(1));
  v.Key("method", c.method, R("Range estimation.").OneOf({"minmax", "percentile", "mse"}));
  v.Key("percentile", c.percentile, R("Percentile of the `percentile` method.").Above(0).Max(100));
}
template <class V>
void Visit(V& v, QuantizeConfig& c) {
  v.Key("enabled", c.enabled, R("Quantize the trained model."));
  v.Key("bits", c.bits, R("Bits per weight: 2, 4 or 8."));
  v.Key("scheme", c.scheme, R("Zero point.").OneOf({"symmetric", "asymmetric", "dynamic"}));
  v.Key("granularity", c.granularity,
        R("Scale sharing.").OneOf({"per_tensor", "per_channel", "per_group"}));
  v.Key("group_size", c.group_size, R("Weights per scale for `per_group`."));
  v.Key("qat", c.qat, R("Quantization-aware training."));
  v.Key("calibration", c.calibration, R("Post-training calibration."));
  v.Key("exclude", c.exclude,
        R("Parameters kept in full precision, by name or glob.").Format("glob"));
}

// ---- monitoring, callbacks, output ----
template <class V>
void Visit(V& v, ChartConfig& c) {
  v.Key("type", c.type, R("Chart kind.").OneOf({"sparkline", "progress"}).Required());
  v.Key("metric", c.metric, R("Metric drawn by a sparkline."));
  v.Key("window", c.window, R("Points shown.").Min(1));
  v.Key("show_eta", c.show_eta, R("Show the estimated time left."));
}
template <class V>
void Visit(V& v, TerminalConfig& c) {
  v.Key("enabled", c.enabled, R("Live progress in the terminal."));
  v.Key("refresh_rate", c.refresh_rate, R("Milliseconds between redraws.").Min(1));
  v.Key("metrics", c.metrics,
        R("Metrics the progress line shows, by name (`loss`, `lr`, `throughput`, `accuracy`, "
          "...); empty: the loss."));
  v.Key("charts", c.charts,
        R("What the progress line draws, in order: a progress bar, sparklines; empty: a "
          "progress bar with the time left and the loss's sparkline."));
}
template <class V>
void Visit(V& v, TrackingConfig& c) {
  v.Key("enabled", c.enabled, R("Record the run with a tracking backend."));
  v.Key("backend", c.backend,
        R("Where runs are recorded (`trueno-db` is the builtin store).")
            .OneOf({"builtin", "trueno-db", "mlflow", "wandb", "tensorboard"}));
  v.Key("project", c.project, R("Project name."));
  v.Key("experiment", c.experiment, R("Experiment name."));
  v.Key("tags", c.tags, R("Free-form tags."));
  v.Key("uri", c.uri, R("Tracking server or directory.").Format("uri"));
}
template <class V>
void Visit(V& v, SystemConfig& c) {
  v.Key("enabled", c.enabled, R("Sample system metrics."));
  v.Key("interval", c.interval, R("Milliseconds between samples.").Min(10));
  v.Key("metrics", c.metrics,
        R("Metrics sampled; all when omitted.")
            .OneOf({"cpu_percent", "memory_mb", "gpu_utilization", "gpu_memory_mb", "gpu_memory",
                    "disk_io"}));
}
template <class V>
void Visit(V& v, AlertConfig& c) {
  v.Key("condition", c.condition,
        R("When to fire, e.g. `loss > 10` or `loss.stall(50)`.")
            .Format("condition")
            .Required()
            .NonEmpty());
  v.Key("action", c.action, R("What to do.").OneOf({"warn", "halt", "checkpoint"}));
  v.Key("message", c.message, R("Text of the alert."));
}
template <class V>
void Visit(V& v, MonitoringConfig& c) {
  v.Key("terminal", c.terminal, R("Terminal display."));
  v.Key("tracking", c.tracking, R("Experiment tracking."));
  v.Key("system", c.system, R("System metrics."));
  v.Key("alerts", c.alerts, R("Alert rules (Andon)."));
}
template <class V>
void Visit(V& v, CallbackOptions& c) {
  v.Key("save_best", c.save_best, R("checkpoint: keep the best by `metric`."));
  v.Key("metric", c.metric, R("checkpoint: the metric."));
  v.Key("mode", c.mode, ModeRule("checkpoint: whether lower or higher is better."));
  v.Key("log_histogram", c.log_histogram, R("gradient_monitor: record histograms."));
  v.Key("per_layer", c.per_layer, R("gradient_monitor: per-layer norms."));
  v.Key("num_samples", c.num_samples, R("sample_predictions: samples shown.").Min(1));
  v.Key("max_tokens", c.max_tokens, R("sample_predictions: tokens generated.").Min(1));
  v.Key("temperature", c.temperature, R("sample_predictions: sampling temperature.").Min(0));
}
template <class V>
void Visit(V& v, CallbackConfig& c) {
  v.Key("type", c.type,
        R("The callback.")
            .OneOf({"checkpoint", "lr_monitor", "gradient_monitor", "sample_predictions", "custom"})
            .Required());
  v.Key("trigger", c.trigger,
        R("When it runs.").OneOf({"step", "epoch_end", "validation_end", "train_end"}));
  v.Key("interval", c.interval, R("Run every N triggers.").Min(1));
  v.Key("config", c.config, R("Options of the callback type."));
  v.Key("script", c.script, R("custom: inline script (not supported: use `command`)."));
  v.Key("command", c.command,
        R("custom: command and arguments; run state arrives as JSON on "
          "stdin.")
            .NonEmpty());
  v.Key("timeout", c.timeout, R("custom: time limit of the command.").Format("duration"));
}
template <class V>
void Visit(V& v, ModelOutputConfig& c) {
  v.Key("format", c.format, R("Weights format.").OneOf({"safetensors", "pt", "gguf", "apr"}));
  v.Key("save_optimizer", c.save_optimizer,
        R("Also save the final optimizer state beside the model (optimizer.pt)."));
  v.Key("save_scheduler", c.save_scheduler,
        R("Also save the final scheduler state beside the model (scheduler.json)."));
  v.Key("merge_lora", c.merge_lora, R("Save weights with LoRA adapters merged in."));
}
template <class V>
void Visit(V& v, MetricsOutputConfig& c) {
  v.Key("format", c.format, R("Metrics file format.").OneOf({"parquet", "csv", "json"}));
  v.Key("include", c.include, R("Metrics written; all when omitted."));
}
template <class V>
void Visit(V& v, ReportConfig& c) {
  v.Key("enabled", c.enabled, R("Write a training report."));
  v.Key("format", c.format, R("Report format.").OneOf({"markdown", "html", "pdf"}));
  v.Key("include_plots", c.include_plots, R("Embed charts."));
}
template <class V>
void Visit(V& v, RegistryConfig& c) {
  v.Key("enabled", c.enabled, R("Publish the model to a registry."));
  v.Key("target", c.target, R("Registry URI.").Format("uri"));
  v.Key("include_config", c.include_config, R("Publish the resolved config."));
  v.Key("include_metrics", c.include_metrics, R("Publish the metrics."));
}
template <class V>
void Visit(V& v, OutputConfig& c) {
  v.Key("dir", c.dir, R("Run directory (templated).").NonEmpty());
  v.Key("model", c.model, R("Saved model."));
  v.Key("metrics", c.metrics, R("Exported metrics."));
  v.Key("report", c.report, R("Training report."));
  v.Key("registry", c.registry, R("Artifact registry."));
}

// ---- lock, root ----
template <class V>
void Visit(V& v, LockedFile& c) {
  v.Key("key", c.key, R("Manifest key naming the file.").Required());
  v.Key("path", c.path, R("Path as written.").Required());
  v.Key("sha256", c.sha256, R("Hex SHA-256 of the contents; absent if missing at lock time."));
  v.Key("size", c.size, R("Size in bytes.").Min(0));
}
template <class V>
void Visit(V& v, LockInfo& c) {
  v.Key("entrenar_version", c.entrenar_version, R("entrenar that wrote the lock.").Required());
  v.Key("created", c.created, R("When the lock was written.").Required());
  v.Key("files", c.files, R("Local files and their hashes."));
  v.Key("libraries", c.libraries, R("Library versions."));
}
template <class V>
void Visit(V& v, Manifest& c) {
  v.Key("entrenar", c.entrenar, R("Specification version; must be \"1.0\".").Required().NonEmpty());
  v.Key("name", c.name, R("Experiment name.").Required().NonEmpty());
  v.Key("version", c.version, R("Experiment version.").Required().NonEmpty());
  v.Key("description", c.description, R("Free text."));
  v.Key("seed", c.seed, R("Global random seed; random (and recorded) when omitted.").Min(0));
  v.Key("data", c.data, R("Dataset (§2)."));
  v.Key("model", c.model, R("Model (§3)."));
  v.Key("optimizer", c.optimizer, R("Optimizer (§4.1)."));
  v.Key("scheduler", c.scheduler, R("Learning-rate schedule (§4.2)."));
  v.Key("training", c.training, R("Training loop (§5)."));
  v.Key("lora", c.lora, R("LoRA / QLoRA fine-tuning (§6)."));
  v.Key("quantize", c.quantize, R("Quantization (§7)."));
  v.Key("monitoring", c.monitoring, R("Monitoring (§8)."));
  v.Key("callbacks", c.callbacks, R("Callbacks (§9)."));
  v.Key("output", c.output, R("Outputs (§10)."));
  v.Key("lock", c.lock, R("Written by `entrenar lock` (§15.2); checked by `--strict`."));
}

}  // namespace entrenar::manifest
