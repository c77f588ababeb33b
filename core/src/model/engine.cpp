// SPDX-License-Identifier: GPL-3.0-or-later
// Engine: loading a model folder, perplexity, generation.
#include "achilles/engine.h"
#include "achilles/checkpoint.h"
#include "achilles/error.h"
#include "model/arch.h"
#include "model/engine_internal.h"
#include "model/transformer.h"
#include "util/json_util.h"
#include <torch/version.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace fs = std::filesystem;

namespace achilles {

namespace {

bool is_model_dir(const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p / "config.json", ec);
}

std::string exe_dir() {
    std::error_code ec;
    fs::path p = fs::read_symlink("/proc/self/exe", ec);
    return ec ? std::string() : p.parent_path().string();
}

void add_unique(std::vector<int>& v, int id) {
    if (id >= 0 && std::find(v.begin(), v.end(), id) == v.end()) v.push_back(id);
}

// eos_token_id of generation_config.json: an int or a list of ints (parsed and range-checked in io).
void read_generation_eos(const std::string& path, std::vector<int>& eos) {
    for (int id : load_generation_eos(path)) add_unique(eos, id);
}

}  // namespace

std::string default_model_dir() {
    if (const char* e = std::getenv("ACHILLES_DEFAULT_MODEL"); e && *e) {
        if (!is_model_dir(e))
            throw Error(e, "ACHILLES_DEFAULT_MODEL", "the folder named by ACHILLES_DEFAULT_MODEL has no config.json");
        return e;
    }
    // An installed binary uses the model installed beside it; a build-tree binary the source tree's.
    const std::string ed = exe_dir();
    if (!ed.empty()) {
        fs::path p = fs::path(ed) / ".." / "share" / "achilles" / "default-model";
        if (is_model_dir(p)) return fs::weakly_canonical(p).string();
    }
#ifdef ACHILLES_SOURCE_DIR
    {
        fs::path p = fs::path(ACHILLES_SOURCE_DIR) / "resources" / "default-model";
        if (is_model_dir(p)) return p.string();
    }
#endif
    throw Error("default-model", "path",
                "the embedded default model was not found (set ACHILLES_DEFAULT_MODEL, or install share/achilles/default-model)");
}

std::string libtorch_version() { return TORCH_VERSION; }

std::vector<std::string> available_devices() {
    std::vector<std::string> out{"cpu"};
    if (at::hasCUDA()) {
        const int n = at::detail::getCUDAHooks().getNumGPUs();
        for (int i = 0; i < n; ++i) out.push_back("cuda:" + std::to_string(i));
    }
    return out;
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

const ModelInfo& Engine::info() const { return impl_->info; }
const Tokenizer* Engine::tokenizer() const { return impl_->tokenizer.get(); }

std::unique_ptr<Engine> Engine::load(const LoadOptions& opt, Progress& progress) {
    try {
        return std::unique_ptr<Engine>(new Engine(EngineAccess::load(opt, progress)));
    } catch (const c10::Error& e) {  // e.g. out of device memory: a clear error, not a crash
        std::string msg = e.what_without_backtrace();
        msg = msg.substr(0, msg.find('\n'));
        throw Error(opt.path, "model", "libtorch failed while loading: " + msg);
    }
}

std::unique_ptr<Engine::Impl> EngineAccess::load(const LoadOptions& opt, Progress& progress) {
    auto impl = std::make_unique<Engine::Impl>();
    const std::string dir = (opt.path == "default") ? default_model_dir() : opt.path;
    if (dir.empty()) throw Error("options", "model", "no model folder given");
    progress.report("load", 0.0, "reading " + dir);
    impl->checkpoint = open_checkpoint(dir);
    progress.check();
    progress.report("load", 0.2, "building the model");
    ModelInfo& info = impl->info;
    impl->model = std::make_unique<Transformer>(impl->checkpoint, opt, info.warnings, &progress);
    progress.check();
    const Checkpoint& ck = impl->checkpoint;
    if (!ck.tokenizer_json.empty() || !ck.tokenizer_model.empty()) {
        progress.report("load", 0.8, "loading the tokenizer");
        try {
            impl->tokenizer = load_tokenizer(dir);
        } catch (const Error&) {
            throw;
        } catch (const std::exception& e) {
            throw Error(ck.tokenizer_json.empty() ? ck.tokenizer_model : ck.tokenizer_json, "tokenizer",
                        std::string("cannot load the tokenizer: ") + e.what());
        }
    }
    const ModelConfig& c = ck.config;
    const Transformer& m = *impl->model;
    info.fingerprint = {fs::weakly_canonical(fs::path(dir)).string(), ck.config_hash(), ck.header_hash()};
    info.model_type = c.model_type;
    info.architecture = c.architecture;
    info.dtype = dtype_label(m.dtype());
    info.device = m.device_summary();
    info.parameters = m.parameter_count();
    info.weight_bytes = int64_t(ck.weight_bytes());
    info.layers = c.num_hidden_layers;
    info.hidden = c.hidden_size;
    info.intermediate = c.intermediate_size;
    info.heads = c.num_attention_heads;
    info.kv_heads = c.num_key_value_heads;
    info.shape = m.shape();
    info.head_dim = info.shape.module_width(Module::q_proj) / std::max(1, c.num_attention_heads);
    info.vocab = c.vocab_size;
    info.has_tokenizer = impl->tokenizer != nullptr;
    const Tokenizer* tok = impl->tokenizer.get();
    info.bos_id = tok && tok->bos_id() >= 0 ? tok->bos_id() : (c.bos_token_ids.empty() ? -1 : c.bos_token_ids[0]);
    for (int e : c.eos_token_ids) add_unique(impl->eos_ids, e);
    if (!ck.generation_config.empty()) read_generation_eos(ck.generation_config, impl->eos_ids);
    if (tok) add_unique(impl->eos_ids, tok->eos_id());
    info.eos_id = tok && tok->eos_id() >= 0 ? tok->eos_id() : (impl->eos_ids.empty() ? -1 : impl->eos_ids[0]);
    progress.report("load", 1.0, "loaded " + c.model_type + " on " + info.device);
    return impl;
}

std::vector<int> Engine::encode_for_ppl(std::string_view text, int max_tokens) const {
    if (!impl_->tokenizer)
        throw Error(impl_->checkpoint.dir, "tokenizer", "the model folder has no tokenizer.json or tokenizer.model");
    if (max_tokens < 2) throw Error("options", "max_tokens", "must be at least 2");
    EncodeOptions eo;
    eo.add_special = false;
    std::vector<int> body = impl_->tokenizer->encode(text, eo);
    std::vector<int> ids;
    if (impl_->info.bos_id >= 0) ids.push_back(impl_->info.bos_id);
    for (int id : body) {
        if (int(ids.size()) >= max_tokens) break;
        ids.push_back(id);
    }
    return ids;
}

namespace {
void check_ids(const std::vector<int>& ids, int V, size_t min_count) {
    if (ids.size() < min_count)
        throw Error("perplexity", "ids", "at least " + std::to_string(min_count) + " tokens are needed to score a text");
    for (int id : ids)
        if (id < 0 || id >= V)
            throw Error("perplexity", "ids", "token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                                 std::to_string(V) + ")");
}
}  // namespace

PplResult Engine::perplexity(const std::vector<int>& ids, const MaskSpec& mask, const std::vector<WeightEdit>& edits,
                             Progress& progress) const {
    validate_weight_edits(edits, impl_->info.shape);
    if (edits.empty()) return perplexity(ids, mask, progress);
    validate_mask(mask, impl_->info.shape);
    check_ids(ids, impl_->info.vocab, 2);
    const Transformer& model = *impl_->model;
    const Hooks before = make_weight_edit_hooks(model, edits);
    SequenceNll s = score_sequence(model, ids_tensor(model, ids), mask, progress, &before);
    PplResult r;
    r.tokens = int(ids.size());
    r.nll = std::move(s.nll);
    r.ppl = s.ppl;
    return r;
}

MaskSpec Engine::calibrate(const std::vector<int>& ids, const MaskSpec& mask, Progress& progress) const {
    validate_mask(mask, impl_->info.shape);
    check_ids(ids, impl_->info.vocab, 1);
    progress.check();
    const Transformer& model = *impl_->model;
    return resolve_mask_stats(model, ids_tensor(model, ids), mask);
}

MaskSpec Engine::calibrate(const std::vector<std::vector<int>>& samples, const MaskSpec& mask,
                           Progress& progress) const {
    validate_mask(mask, impl_->info.shape);
    if (samples.empty()) throw Error("calibration", "samples", "no samples to calibrate on");
    for (const auto& ids : samples) check_ids(ids, impl_->info.vocab, 1);
    const Transformer& model = *impl_->model;
    std::vector<at::Tensor> t;
    t.reserve(samples.size());
    for (const auto& ids : samples) t.push_back(ids_tensor(model, ids));
    return resolve_mask_stats(model, t, mask, &progress);
}

PplResult Engine::perplexity(const std::vector<int>& ids, const MaskSpec& mask, Progress& progress) const {
    validate_mask(mask, impl_->info.shape);
    check_ids(ids, impl_->info.vocab, 2);
    const Transformer& model = *impl_->model;
    SequenceNll s = score_sequence(model, ids_tensor(model, ids), mask, progress);
    PplResult r;
    r.tokens = int(ids.size());
    r.nll = std::move(s.nll);
    r.ppl = s.ppl;
    return r;
}

GenerateResult Engine::generate(const std::vector<int>& prompt, const GenerateOptions& opt, const MaskSpec& mask,
                                Progress& progress, const std::function<void(const TokenStep&)>& on_token) const {
    validate_mask(mask, impl_->info.shape);
    // mean/clamp ablations without statistics are calibrated on the prompt.
    Hooks hooks = make_mask_hooks(mask_needs_stats(mask) && !prompt.empty()
                                      ? resolve_mask_stats(*impl_->model, ids_tensor(*impl_->model, prompt), mask)
                                      : mask);
    return generate_tokens(*impl_->model, impl_->tokenizer.get(), impl_->eos_ids, prompt, opt,
                           hooks.empty() ? nullptr : &hooks, progress, on_token);
}

}  // namespace achilles
