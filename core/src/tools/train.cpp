// SPDX-License-Identifier: GPL-3.0-or-later
#include "tools/train.h"

#include "achilles/error.h"
#include "achilles/fileio.h"
#include "achilles/safetensors.h"
#include "achilles/tokenizer.h"
#include "tools/story_corpus.h"
#include "model/arch.h"
#include "model/transformer.h"

#include <c10/core/GradMode.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <unistd.h>

namespace fs = std::filesystem;

namespace achilles {
namespace {

// The token stream: [BOS] story [EOS] [BOS] story [EOS] ..., with the offset of every BOS.
struct TokenStream {
    std::vector<int64_t> ids;
    std::vector<int64_t> starts;   // BOS offsets usable as window starts
};

TokenStream tokenize_stories(const Tokenizer& tok, const std::vector<std::string>& stories, int seq_len,
                             Progress& progress, std::string_view stage) {
    TokenStream ts;
    const int bos = tok.bos_id() >= 0 ? tok.bos_id() : 1;
    const int eos = tok.eos_id() >= 0 ? tok.eos_id() : 2;
    EncodeOptions eo;
    eo.add_special = false;
    for (size_t i = 0; i < stories.size(); ++i) {
        if (i % 512 == 0) {
            progress.check();
            progress.report(stage, static_cast<double>(i) / static_cast<double>(stories.size()));
        }
        ts.starts.push_back(static_cast<int64_t>(ts.ids.size()));
        ts.ids.push_back(bos);
        for (int id : tok.encode(stories[i], eo)) ts.ids.push_back(id);
        ts.ids.push_back(eos);
    }
    // Windows need seq_len + 1 tokens.
    while (!ts.starts.empty() && ts.starts.back() + seq_len + 1 > static_cast<int64_t>(ts.ids.size()))
        ts.starts.pop_back();
    return ts;
}

// A batch of windows [B, T+1] starting at story starts.
at::Tensor make_batch(const TokenStream& ts, const std::vector<int64_t>& picks, int seq_len) {
    const int64_t B = static_cast<int64_t>(picks.size());
    at::Tensor t = at::empty({B, seq_len + 1}, at::kLong);
    int64_t* p = t.data_ptr<int64_t>();
    for (int64_t b = 0; b < B; ++b)
        std::memcpy(p + b * (seq_len + 1), ts.ids.data() + ts.starts[static_cast<size_t>(picks[static_cast<size_t>(b)])],
                    sizeof(int64_t) * static_cast<size_t>(seq_len + 1));
    return t;
}

at::Tensor batch_loss(const Transformer& model, const at::Tensor& window) {
    const int64_t T = window.size(1) - 1;
    at::Tensor x = window.narrow(1, 0, T);
    at::Tensor y = window.narrow(1, 1, T);
    at::Tensor logits = model.forward(x);  // [B,T,V] float32
    const int64_t V = logits.size(-1);
    return at::cross_entropy_loss(logits.reshape({-1, V}), y.reshape({-1}));
}

double eval_loss(const Transformer& model, const TokenStream& ts, int seq_len, int batch, int batches,
                 uint64_t seed) {
    c10::NoGradGuard ng;
    std::mt19937_64 rng(seed);
    double sum = 0;
    int n = 0;
    for (int i = 0; i < batches; ++i) {
        std::vector<int64_t> picks;
        for (int b = 0; b < batch; ++b) picks.push_back(static_cast<int64_t>(rng() % ts.starts.size()));
        sum += batch_loss(model, make_batch(ts, picks, seq_len)).item<double>();
        ++n;
    }
    return n ? sum / n : 0.0;
}

double lr_at(const TrainOptions& o, int warmup, int step /*0-based*/) {
    if (step < warmup) return o.lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
    const int decay = std::max(1, o.steps - warmup);
    double t = std::min(1.0, static_cast<double>(step - warmup) / static_cast<double>(decay));
    const double lo = o.lr * o.min_lr_ratio;
    return lo + 0.5 * (o.lr - lo) * (1.0 + std::cos(M_PI * t));
}

bool is_matrix(const std::string& name, const at::Tensor& t) { return t.dim() >= 2 && name.find("norm") == std::string::npos; }

std::string csv_header() { return "step,loss,lr,grad_norm,tokens,elapsed_s,eval_loss\n"; }
std::string csv_row(const TrainLogRow& r) {
    char buf[256];
    if (r.eval_loss >= 0)
        std::snprintf(buf, sizeof buf, "%d,%.6f,%.6g,%.4f,%lld,%.2f,%.6f\n", r.step, r.loss, r.lr, r.grad_norm,
                      static_cast<long long>(r.tokens), r.elapsed_s, r.eval_loss);
    else
        std::snprintf(buf, sizeof buf, "%d,%.6f,%.6g,%.4f,%lld,%.2f,\n", r.step, r.loss, r.lr, r.grad_norm,
                      static_cast<long long>(r.tokens), r.elapsed_s);
    return buf;
}

}  // namespace

void adamw_update(at::Tensor& p, const at::Tensor& g, at::Tensor& m, at::Tensor& v, int t, const AdamWSettings& s,
                  bool decay) {
    c10::NoGradGuard ng;
    const double bc1 = 1.0 - std::pow(s.beta1, t), bc2 = 1.0 - std::pow(s.beta2, t);
    m.mul_(s.beta1).add_(g, 1.0 - s.beta1);
    v.mul_(s.beta2).addcmul_(g, g, 1.0 - s.beta2);
    if (decay && s.weight_decay > 0) p.mul_(1.0 - s.lr * s.weight_decay);
    at::Tensor denom = (v / bc2).sqrt_().add_(s.eps);
    p.addcdiv_(m, denom, -s.lr / bc1);
}

double train_lr(const TrainOptions& o, int step) {
    const int warmup = o.warmup >= 0 ? o.warmup : std::max(1, std::min(200, o.steps / 10));
    return lr_at(o, warmup, step);
}

void validate(const TrainOptions& o) {
    auto bad = [](const char* field, const std::string& why) { throw Error("train options", field, why); };
    if (o.steps < 1) bad("steps", "must be >= 1");
    if (o.hidden < 8) bad("hidden", "must be >= 8");
    if (o.layers < 1) bad("layers", "must be >= 1");
    if (o.heads < 1 || o.hidden % o.heads != 0) bad("heads", "must be >= 1 and divide hidden");
    if ((o.hidden / o.heads) % 2 != 0) bad("heads", "hidden/heads (head_dim) must be even for RoPE");
    if (o.kv_heads < 1 || o.heads % o.kv_heads != 0) bad("kv_heads", "must be >= 1 and divide heads");
    if (o.intermediate < 1) bad("intermediate", "must be >= 1");
    if (o.seq_len < 2) bad("seq_len", "must be >= 2");
    if (o.batch < 1) bad("batch", "must be >= 1");
    if (!(o.lr > 0) || !std::isfinite(o.lr)) bad("lr", "must be a positive number");
    if (o.min_lr_ratio < 0 || o.min_lr_ratio > 1) bad("min_lr_ratio", "must be in [0,1]");
    if (o.weight_decay < 0) bad("weight_decay", "must be >= 0");
    if (o.beta1 < 0 || o.beta1 >= 1) bad("beta1", "must be in [0,1)");
    if (o.beta2 < 0 || o.beta2 >= 1) bad("beta2", "must be in [0,1)");
    if (o.vocab < 300 && o.tokenizer.empty()) bad("vocab", "must be >= 300 (byte fallback needs 259 pieces)");
    if (o.corpus_bytes < 10000) bad("corpus_bytes", "must be >= 10000");
    if (o.threads < 0) bad("threads", "must be >= 0");
}

ModelConfig make_train_config(const TrainOptions& o, int vocab_size) {
    ModelConfig c;
    c.model_type = "llama";
    c.architecture = "LlamaForCausalLM";
    c.vocab_size = vocab_size;
    c.hidden_size = o.hidden;
    c.intermediate_size = o.intermediate;
    c.num_hidden_layers = o.layers;
    c.num_attention_heads = o.heads;
    c.num_key_value_heads = o.kv_heads;
    c.head_dim = o.hidden / o.heads;
    c.rms_norm_eps = o.rms_norm_eps;
    c.rope_theta = o.rope_theta;
    c.max_position_embeddings = std::max(o.seq_len, 512);
    c.tie_word_embeddings = true;
    c.hidden_act = "silu";
    c.bos_token_ids = {1};
    c.eos_token_ids = {2};
    c.pad_token_id = -1;
    c.torch_dtype = "float32";
    return c;
}

std::string train_config_json(const ModelConfig& c) {
    nlohmann::ordered_json j;
    j["architectures"] = {"LlamaForCausalLM"};
    j["model_type"] = "llama";
    j["vocab_size"] = c.vocab_size;
    j["hidden_size"] = c.hidden_size;
    j["intermediate_size"] = c.intermediate_size;
    j["num_hidden_layers"] = c.num_hidden_layers;
    j["num_attention_heads"] = c.num_attention_heads;
    j["num_key_value_heads"] = c.num_key_value_heads;
    j["head_dim"] = c.head_dim;
    j["hidden_act"] = "silu";
    j["max_position_embeddings"] = c.max_position_embeddings;
    j["rms_norm_eps"] = c.rms_norm_eps;
    j["rope_theta"] = c.rope_theta;
    j["rope_scaling"] = nullptr;
    j["attention_bias"] = false;
    j["attention_dropout"] = 0.0;
    j["mlp_bias"] = false;
    j["initializer_range"] = 0.02;
    j["tie_word_embeddings"] = true;
    j["bos_token_id"] = c.bos_token_ids.empty() ? 1 : c.bos_token_ids[0];
    j["eos_token_id"] = c.eos_token_ids.empty() ? 2 : c.eos_token_ids[0];
    j["torch_dtype"] = "float32";
    j["use_cache"] = true;
    return j.dump(2) + "\n";
}

std::map<std::string, at::Tensor> init_train_weights(const ModelConfig& c, uint64_t seed, double init_std) {
    at::manual_seed(seed);
    std::map<std::string, at::Tensor> w;
    const double out_std = init_std / std::sqrt(2.0 * c.num_hidden_layers);
    // The names and shapes of the family's tensor table, created in its fixed order (not map order)
    // so the seed alone decides every value: norms 1, o_proj/down_proj scaled, the rest init_std.
    ModelWeights slots_of;
    for (const TensorSlot& s : arch_tensor_slots(c, slots_of)) {
        if (s.layer >= 0) {
            const LayerWeights& L = slots_of.layers[size_t(s.layer)];
            if (s.shape.size() == 1) {
                w[s.name] = at::ones(s.shape, at::kFloat);
                continue;
            }
            const double sd = (s.slot == &L.o_w || s.slot == &L.down_w) ? out_std : init_std;
            w[s.name] = at::randn(s.shape, at::kFloat).mul_(sd);
        } else {
            w[s.name] = s.shape.size() == 1 ? at::ones(s.shape, at::kFloat) : at::randn(s.shape, at::kFloat).mul_(init_std);
        }
    }
    return w;
}

void save_hf_model(const std::string& dir, const ModelConfig& c, const std::map<std::string, at::Tensor>& weights,
                   const std::string& tokenizer_model, const std::map<std::string, std::string>& metadata) {
    fs::create_directories(dir);
    const fs::path d(dir);
    std::vector<TensorData> tensors;
    tensors.reserve(weights.size());
    for (const auto& [name, t0] : weights) {
        at::Tensor t = t0.detach().to(at::kCPU, at::kFloat).contiguous();
        TensorData td;
        td.name = name;
        td.dtype = DType::F32;
        td.shape = t.sizes().vec();
        td.bytes.resize(static_cast<size_t>(t.numel()) * sizeof(float));
        std::memcpy(td.bytes.data(), t.data_ptr<float>(), td.bytes.size());
        tensors.push_back(std::move(td));
    }
    std::map<std::string, std::string> meta = metadata;
    meta["format"] = "pt";
    write_safetensors((d / "model.safetensors").string(), tensors, meta);
    write_file_atomic(d / "config.json", train_config_json(c));
    if (!tokenizer_model.empty() && fs::absolute(tokenizer_model) != fs::absolute(d / "tokenizer.model"))
        write_file_atomic(d / "tokenizer.model", read_file(tokenizer_model));

    nlohmann::ordered_json tc;
    tc["tokenizer_class"] = "LlamaTokenizer";
    tc["add_bos_token"] = true;
    tc["add_eos_token"] = false;
    tc["bos_token"] = "<s>";
    tc["eos_token"] = "</s>";
    tc["unk_token"] = "<unk>";
    tc["pad_token"] = nullptr;
    tc["clean_up_tokenization_spaces"] = false;
    tc["legacy"] = true;
    tc["model_max_length"] = c.max_position_embeddings;
    tc["sp_model_kwargs"] = nlohmann::ordered_json::object();
    write_file_atomic(d / "tokenizer_config.json", tc.dump(2) + "\n");

    nlohmann::ordered_json gc;
    gc["bos_token_id"] = c.bos_token_ids.empty() ? 1 : c.bos_token_ids[0];
    gc["eos_token_id"] = c.eos_token_ids.empty() ? 2 : c.eos_token_ids[0];
    gc["max_length"] = c.max_position_embeddings;
    gc["do_sample"] = false;
    write_file_atomic(d / "generation_config.json", gc.dump(2) + "\n");
}

ModelFolderSink::ModelFolderSink(std::string dir) : dir_(std::move(dir)) {
    if (dir_.empty()) throw Error("train options", "out_dir", "is required");
    fs::create_directories(dir_);
    csv_.open(fs::path(dir_) / "loss.csv", std::ios::trunc);
    if (!csv_) throw Error((fs::path(dir_) / "loss.csv").string(), "", "cannot write the file");
    csv_ << csv_header();
}

std::string ModelFolderSink::keep_tokenizer(const std::string& path, bool trained) {
    if (!trained) return path;  // a given tokenizer is copied by save()
    const fs::path dst = fs::path(dir_) / "tokenizer.model";
    fs::copy_file(path, dst, fs::copy_options::overwrite_existing);
    return dst.string();
}

void ModelFolderSink::log_row(const TrainLogRow& row) {
    csv_ << csv_row(row);
    csv_.flush();
}

void ModelFolderSink::save(const ModelConfig& config, const std::map<std::string, at::Tensor>& weights,
                           const std::string& tokenizer_model, const std::map<std::string, std::string>& metadata) {
    save_hf_model(dir_, config, weights, tokenizer_model, metadata);
}

void ModelFolderSink::finish(const TrainResult&, const std::string& summary_json) {
    write_file_atomic(fs::path(dir_) / "train_summary.json", summary_json);
}

TrainResult train_model(const TrainOptions& o, Progress& progress, TrainSink* sink) {
    validate(o);
    using clock = std::chrono::steady_clock;
    if (o.threads > 0) at::set_num_threads(o.threads);
    TrainResult res;
    res.out_dir = o.out_dir;
    const uint64_t corpus_seed = o.corpus_seed ? o.corpus_seed : o.seed;

    // Work folder for the corpus and the tokenizer: a temporary folder, removed at the end.
    const fs::path work = fs::temp_directory_path() / ("achilles-train-" + std::to_string(::getpid()) + "-" +
                                                       std::to_string(reinterpret_cast<uintptr_t>(&o)));
    fs::create_directories(work);
    struct Cleanup {
        fs::path p;
        ~Cleanup() { std::error_code ec; fs::remove_all(p, ec); }
    } cleanup{work};

    // 1. Corpus.
    progress.report("corpus", 0.0, "generating stories");
    std::vector<std::string> stories = generate_stories(corpus_seed, o.corpus_bytes);
    res.corpus_stories = static_cast<int64_t>(stories.size());
    for (const auto& s : stories) res.corpus_bytes += static_cast<int64_t>(s.size() + 1);
    // Held-out stories: a different seed of the same generator.
    std::vector<std::string> heldout = generate_stories(corpus_seed ^ 0x5EEDF00Dull, std::max<size_t>(o.corpus_bytes / 40, 60000));

    // 2. Tokenizer.
    std::string tok_path = o.tokenizer;
    if (tok_path.empty()) {
        progress.report("tokenizer", 0.0, "training the SentencePiece BPE tokenizer");
        std::string text;
        for (const auto& s : stories) {
            if (text.size() >= o.tokenizer_train_bytes) break;
            text += s;
            text += '\n';
        }
        const fs::path corpus = work / "corpus.txt";
        write_file_atomic(corpus, text);
        const std::string prefix = (work / "tokenizer").string();
        std::ostringstream args;
        args << "--input=" << corpus.string() << " --model_prefix=" << prefix << " --vocab_size=" << o.vocab
             << " --model_type=bpe --byte_fallback=true --character_coverage=1.0 --split_digits=true"
             << " --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1 --normalization_rule_name=identity"
             << " --remove_extra_whitespaces=false --input_sentence_size=0 --shuffle_input_sentence=false"
             << " --max_sentence_length=16384 --num_threads=1 --minloglevel=2";
        train_sentencepiece(args.str());
        tok_path = prefix + ".model";
        progress.check();
    }
    std::unique_ptr<Tokenizer> tok = load_tokenizer(tok_path);
    res.tokenizer_path = tok_path;
    if (sink) {
        tok_path = sink->keep_tokenizer(tok_path, o.tokenizer.empty());  // the work folder goes away
        res.tokenizer_path = tok_path;
    }

    // 3. Tokens.
    TokenStream train = tokenize_stories(*tok, stories, o.seq_len, progress, "tokenize");
    TokenStream valid = tokenize_stories(*tok, heldout, o.seq_len, progress, "tokenize");
    res.corpus_tokens = static_cast<int64_t>(train.ids.size());
    if (train.starts.empty() || valid.starts.empty())
        throw Error("train options", "corpus_bytes", "the corpus is too small for seq_len " + std::to_string(o.seq_len));
    stories.clear();
    stories.shrink_to_fit();

    // 4. Model.
    res.config = make_train_config(o, tok->vocab_size());
    std::map<std::string, at::Tensor> weights = init_train_weights(res.config, o.seed, o.init_std);
    std::vector<std::string> names;
    std::vector<at::Tensor> params, m, v;
    std::vector<bool> decay;
    for (auto& [name, t] : weights) {
        t.requires_grad_(true);
        names.push_back(name);
        params.push_back(t);
        m.push_back(at::zeros_like(t));
        v.push_back(at::zeros_like(t));
        decay.push_back(is_matrix(name, t));
        res.parameters += t.numel();
    }
    Transformer model(res.config, weights);

    const int warmup = o.warmup >= 0 ? o.warmup : std::max(1, std::min(200, o.steps / 10));
    std::mt19937_64 rng(o.seed * 0x9E3779B97F4A7C15ull + 17);
    const uint64_t eval_seed = o.seed + 12345;

    res.initial_eval_loss = eval_loss(model, valid, o.seq_len, o.batch, o.eval_batches, eval_seed);
    progress.log("initial held-out loss " + std::to_string(res.initial_eval_loss));

    auto save = [&](int step) {
        std::map<std::string, std::string> meta{{"achilles.train.step", std::to_string(step)},
                                                {"achilles.train.seed", std::to_string(o.seed)}};
        sink->save(res.config, weights, tok_path, meta);
    };

    const auto t0 = clock::now();
    int64_t tokens = 0;
    for (int step = 0; step < o.steps; ++step) {
        progress.check();
        const double lr = lr_at(o, warmup, step);
        std::vector<int64_t> picks;
        picks.reserve(static_cast<size_t>(o.batch));
        for (int b = 0; b < o.batch; ++b) picks.push_back(static_cast<int64_t>(rng() % train.starts.size()));
        at::Tensor window = make_batch(train, picks, o.seq_len);
        at::Tensor loss = batch_loss(model, window);
        loss.backward();
        tokens += static_cast<int64_t>(o.batch) * o.seq_len;

        double gnorm = 0;
        {
            c10::NoGradGuard ng;
            at::Tensor sq = at::zeros({}, at::kDouble);
            for (auto& p : params)
                if (p.grad().defined()) sq += p.grad().to(at::kDouble).pow(2).sum();
            gnorm = std::sqrt(sq.item<double>());
            double scale = 1.0;
            if (o.grad_clip > 0 && gnorm > o.grad_clip) scale = o.grad_clip / (gnorm + 1e-6);
            AdamWSettings aw{lr, o.beta1, o.beta2, o.adam_eps, o.weight_decay};
            for (size_t i = 0; i < params.size(); ++i) {
                at::Tensor g = params[i].grad();
                if (!g.defined()) continue;
                if (scale != 1.0) g.mul_(scale);
                adamw_update(params[i], g, m[i], v[i], step + 1, aw, decay[i]);
                g.zero_();
            }
        }
        TrainLogRow row;
        row.step = step + 1;
        row.loss = loss.item<double>();
        row.lr = lr;
        row.grad_norm = gnorm;
        row.tokens = tokens;
        row.elapsed_s = std::chrono::duration<double>(clock::now() - t0).count();
        if (!std::isfinite(row.loss))
            throw Error("training", "loss", "became " + std::to_string(row.loss) + " at step " + std::to_string(row.step) +
                                                " (try a lower lr)");
        const bool last = step + 1 == o.steps;
        if (o.eval_every > 0 && (row.step % o.eval_every == 0) && !last)
            row.eval_loss = eval_loss(model, valid, o.seq_len, o.batch, o.eval_batches, eval_seed);
        res.log.push_back(row);
        if (last) {
            res.eval_loss = eval_loss(model, valid, o.seq_len, o.batch, o.eval_batches, eval_seed);
            row.eval_loss = res.eval_loss;
            res.log.back().eval_loss = res.eval_loss;
        }
        if (sink && (row.step == 1 || last || row.step % std::max(1, o.log_every) == 0 || row.eval_loss >= 0))
            sink->log_row(row);
        char msg[160];
        std::snprintf(msg, sizeof msg, "step %d/%d loss %.4f lr %.2e |g| %.3f %.0f tok/s", row.step, o.steps, row.loss,
                      lr, gnorm, tokens / std::max(1e-9, row.elapsed_s));
        progress.report("train", static_cast<double>(row.step) / o.steps, msg);
        if (sink && o.save_every > 0 && row.step % o.save_every == 0 && !last) save(row.step);
    }
    res.seconds = std::chrono::duration<double>(clock::now() - t0).count();
    res.tokens_per_s = static_cast<double>(tokens) / std::max(1e-9, res.seconds);
    if (res.log.empty() || res.log.back().eval_loss < 0) {
        res.eval_loss = eval_loss(model, valid, o.seq_len, o.batch, o.eval_batches, eval_seed);
        if (!res.log.empty()) res.log.back().eval_loss = res.eval_loss;
    }
    res.eval_ppl = std::exp(res.eval_loss);

    for (auto& p : params) p.requires_grad_(false);
    res.weights = weights;
    if (sink) {
        save(o.steps);
        nlohmann::ordered_json s;
        s["seed"] = o.seed;
        s["corpus_seed"] = corpus_seed;
        s["steps"] = o.steps;
        s["hidden"] = o.hidden;
        s["layers"] = o.layers;
        s["heads"] = o.heads;
        s["kv_heads"] = o.kv_heads;
        s["intermediate"] = o.intermediate;
        s["seq_len"] = o.seq_len;
        s["batch"] = o.batch;
        s["lr"] = o.lr;
        s["min_lr_ratio"] = o.min_lr_ratio;
        s["warmup"] = warmup;
        s["weight_decay"] = o.weight_decay;
        s["betas"] = {o.beta1, o.beta2};
        s["grad_clip"] = o.grad_clip;
        s["vocab"] = res.config.vocab_size;
        s["parameters"] = res.parameters;
        s["corpus_bytes"] = res.corpus_bytes;
        s["corpus_stories"] = res.corpus_stories;
        s["corpus_tokens"] = res.corpus_tokens;
        s["tokens_seen"] = tokens;
        s["threads"] = at::get_num_threads();
        s["train_seconds"] = res.seconds;
        s["tokens_per_s"] = res.tokens_per_s;
        s["initial_heldout_loss"] = res.initial_eval_loss;
        s["final_train_loss"] = res.log.empty() ? 0.0 : res.log.back().loss;
        s["heldout_loss"] = res.eval_loss;
        s["heldout_ppl"] = res.eval_ppl;
        sink->finish(res, s.dump(2) + "\n");
    }
    progress.report("train", 1.0, "done");
    return res;
}

TrainResult train_to_folder(const TrainOptions& o, Progress& progress) {
    validate(o);  // before the folder is created
    ModelFolderSink folder(o.out_dir);
    return train_model(o, progress, &folder);
}

TrainReport run_training(const TrainOptions& o, Progress& progress) {
    TrainResult r = train_to_folder(o, progress);
    TrainReport t;
    t.log = std::move(r.log);
    t.initial_eval_loss = r.initial_eval_loss;
    t.eval_loss = r.eval_loss;
    t.eval_ppl = r.eval_ppl;
    t.parameters = r.parameters;
    t.corpus_bytes = r.corpus_bytes;
    t.corpus_stories = r.corpus_stories;
    t.corpus_tokens = r.corpus_tokens;
    t.seconds = r.seconds;
    t.tokens_per_s = r.tokens_per_s;
    t.out_dir = r.out_dir;
    return t;
}

}  // namespace achilles
