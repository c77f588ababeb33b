// SPDX-License-Identifier: GPL-3.0-or-later
// config.json with the defaults of transformers' per-architecture config classes, which live in
// the family descriptors (core/src/model/families/).
// Sizes that define the network (vocab, hidden, intermediate, layers, heads) must be stated:
// silently assuming a 7B default shape would only fail later with a confusing shape error.
#include "achilles/config.h"
#include "achilles/neuron.h"
#include "achilles/fileio.h"
#include "achilles/error.h"
#include "model/family.h"
#include "util/json_util.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <filesystem>

namespace achilles {

namespace {

class Reader {
public:
    Reader(const json& j, const std::string& src) : j_(j), src_(src) {}

    bool has(const char* k) const { return j_.contains(k); }
    bool present(const char* k) const { return j_.contains(k) && !j_.at(k).is_null(); }

    std::optional<int64_t> opt_int(const char* k, const std::string& field_name = {}) const {
        if (!present(k)) return std::nullopt;
        return as_int(j_.at(k), field_name.empty() ? k : field_name);
    }
    std::optional<double> opt_double(const char* k) const {
        if (!present(k)) return std::nullopt;
        return as_double(j_.at(k), k);
    }
    std::optional<bool> opt_bool(const char* k) const {
        if (!present(k)) return std::nullopt;
        const json& v = j_.at(k);
        if (!v.is_boolean()) throw Error(src_, k, "expected true or false, got " + brief(v));
        return v.get<bool>();
    }
    std::optional<std::string> opt_string(const char* k) const {
        if (!present(k)) return std::nullopt;
        const json& v = j_.at(k);
        if (!v.is_string()) throw Error(src_, k, "expected a string, got " + brief(v));
        return v.get<std::string>();
    }
    // A size that defines the network: present, positive and at most `limit` (a bound far above
    // every released model, so a corrupt config is refused before anything is allocated for it).
    int required_positive(const char* k, int64_t limit = std::numeric_limits<int>::max()) const {
        if (!present(k)) throw Error(src_, k, "is missing");
        int64_t v = as_int(j_.at(k), k);
        if (v <= 0) throw Error(src_, k, "must be positive, got " + std::to_string(v));
        if (v > limit)
            throw Error(src_, k, std::to_string(v) + " is implausibly large (this build accepts at most " +
                                     std::to_string(limit) + ")");
        return static_cast<int>(v);
    }

    int64_t as_int(const json& v, const std::string& field) const {
        return json_int(v, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), src_, field);
    }
    double as_double(const json& v, const std::string& field) const { return json_double(v, src_, field); }
    std::vector<int> token_ids(const char* k, const std::vector<int>& fallback) const {
        if (!has(k)) return fallback;
        const json& v = j_.at(k);
        if (v.is_null()) return {};
        std::vector<int> out;
        auto one = [&](const json& x) {
            out.push_back(static_cast<int>(json_int(x, 0, std::numeric_limits<int>::max(), src_, k)));
        };
        if (v.is_array()) {
            if (v.size() > 4096) throw Error(src_, k, "lists " + std::to_string(v.size()) + " token ids (at most 4096)");
            for (const auto& x : v) one(x);
        } else {
            one(v);
        }
        return out;
    }
    const json& raw() const { return j_; }
    const std::string& src() const { return src_; }

private:
    const json& j_;
    const std::string& src_;
};

std::string normalize_act(const std::string& a, const std::string& src, const char* field) {
    if (a == "silu" || a == "swish") return "silu";
    if (a == "gelu_pytorch_tanh" || a == "gelu_new" || a == "gelu_fast") return "gelu_pytorch_tanh";
    if (a == "gelu") return "gelu";
    throw Error(src, field, "unsupported activation '" + a + "' (supported: silu, gelu, gelu_pytorch_tanh)");
}

void parse_rope_scaling(const Reader& r, ModelConfig& c) {
    const std::string& src = r.src();
    // transformers >= 5 writes "rope_parameters" (rope_type, rope_theta, scaling fields) instead.
    const char* key = r.present("rope_scaling") ? "rope_scaling" : "rope_parameters";
    if (!r.present(key)) return;
    const json& rs = r.raw().at(key);
    if (!rs.is_object()) throw Error(src, key, "expected an object or null, got " + brief(rs));
    Reader s(rs, src);
    std::string type;
    if (auto t = s.opt_string("rope_type")) type = *t;
    else if (auto t2 = s.opt_string("type")) type = *t2;
    else if (std::string(key) == "rope_parameters") return;  // only rope_theta: default rope
    else throw Error(src, "rope_scaling.rope_type", "is missing");
    if (type == "default") return;
    if (type == "su") type = "longrope";

    RopeScaling& out = c.rope_scaling;
    auto num = [&](const char* k) -> std::optional<double> {
        if (!s.present(k)) return std::nullopt;
        return s.as_double(rs.at(k), std::string("rope_scaling.") + k);
    };
    // A position count: an integer (5.0 accepted) in [1, kMaxPositions], checked before any cast.
    auto positions = [&](const char* k) -> std::optional<int64_t> {
        if (!s.present(k)) return std::nullopt;
        return json_int(rs.at(k), 1, kMaxPositions, src, std::string("rope_scaling.") + k);
    };
    auto need = [&](const char* k) -> double {
        auto v = num(k);
        if (!v) throw Error(src, std::string("rope_scaling.") + k, "is missing (required by rope type '" + type + "')");
        return *v;
    };
    if (type == "linear" || type == "dynamic") {
        out.factor = need("factor");
        if (out.factor < 1.0) throw Error(src, "rope_scaling.factor", "must be >= 1");
        if (auto o = positions("original_max_position_embeddings")) out.original_max_position_embeddings = *o;
    } else if (type == "llama3") {
        out.factor = need("factor");
        out.low_freq_factor = need("low_freq_factor");
        out.high_freq_factor = need("high_freq_factor");
        auto orig = positions("original_max_position_embeddings");
        if (!orig) throw Error(src, "rope_scaling.original_max_position_embeddings", "is missing (required by rope type 'llama3')");
        out.original_max_position_embeddings = *orig;
        if (out.factor < 1.0) throw Error(src, "rope_scaling.factor", "must be >= 1");
        if (out.high_freq_factor <= out.low_freq_factor)
            throw Error(src, "rope_scaling.high_freq_factor", "must be greater than low_freq_factor");
        if (out.original_max_position_embeddings <= 0)
            throw Error(src, "rope_scaling.original_max_position_embeddings", "must be positive");
    } else if (type == "longrope") {
        auto factors = [&](const char* k) {
            std::string f = std::string("rope_scaling.") + k;
            if (!s.present(k) || !rs.at(k).is_array()) throw Error(src, f, "must be an array of numbers");
            std::vector<double> v;
            for (const auto& x : rs.at(k)) v.push_back(s.as_double(x, f));
            return v;
        };
        out.long_factor = factors("long_factor");
        out.short_factor = factors("short_factor");
        int dim = static_cast<int>(c.head_dim * c.partial_rotary_factor);
        if (static_cast<int>(out.long_factor.size()) != dim / 2)
            throw Error(src, "rope_scaling.long_factor",
                        "has " + std::to_string(out.long_factor.size()) + " entries, expected rotary dim / 2 = " +
                            std::to_string(dim / 2));
        if (static_cast<int>(out.short_factor.size()) != dim / 2)
            throw Error(src, "rope_scaling.short_factor",
                        "has " + std::to_string(out.short_factor.size()) + " entries, expected rotary dim / 2 = " +
                            std::to_string(dim / 2));
        // transformers' _compute_longrope_parameters: a top-level original_max_position_embeddings
        // (phi3) sets factor = max_position_embeddings / original; else the rope_scaling values.
        std::optional<double> factor = num("factor");
        int64_t original = c.max_position_embeddings;
        if (auto top = r.opt_int("original_max_position_embeddings")) {
            if (*top <= 0) throw Error(src, "original_max_position_embeddings", "must be positive");
            if (*top > kMaxPositions)
                throw Error(src, "original_max_position_embeddings", std::to_string(*top) + " is implausibly large");
            original = *top;
            factor = double(c.max_position_embeddings) / double(original);
        } else if (auto o = positions("original_max_position_embeddings")) {
            original = *o;
        }
        out.factor = factor.value_or(1.0);
        out.original_max_position_embeddings = original;
        if (auto af = num("attention_factor")) {
            out.attention_factor = *af;
        } else {
            out.attention_factor = out.factor <= 1.0
                                       ? 1.0
                                       : std::sqrt(1.0 + std::log(out.factor) / std::log(double(original)));
        }
    } else {
        throw Error(src, "rope_scaling.rope_type",
                    "unsupported rope scaling '" + type + "' (supported: default, linear, dynamic, llama3, longrope/su)");
    }
    out.type = type;
}

}  // namespace

std::vector<std::string> supported_model_types() {
    std::vector<std::string> k;
    for (const FamilyDescriptor* f : families()) k.push_back(f->model_type);
    return k;
}

ModelConfig parse_config(const std::string& json_text, const std::string& src) {
    json j = parse_json(json_text, src);
    if (!j.is_object()) throw Error(src, "", "config must be a JSON object");
    Reader r(j, src);
    ModelConfig c;
    c.source_path = src;
    c.raw_json = json_text;

    auto mt = r.opt_string("model_type");
    std::string list;
    for (const auto& t : supported_model_types()) list += (list.empty() ? "" : ", ") + t;
    if (!mt) throw Error(src, "model_type", "is missing (supported: " + list + ")");
    const FamilyDescriptor* family = find_family(*mt);
    if (!family) throw Error(src, "model_type", "unsupported model_type '" + *mt + "' (supported: " + list + ")");
    c.model_type = *mt;
    const FamilyDescriptor& fam = *family;
    const FamilyDefaults& d = fam.defaults;

    if (r.present("architectures")) {
        const json& a = j.at("architectures");
        if (!a.is_array()) throw Error(src, "architectures", "expected an array of strings");
        if (!a.empty()) {
            if (!a[0].is_string()) throw Error(src, "architectures", "expected an array of strings");
            c.architecture = a[0].get<std::string>();
        }
    }

    c.vocab_size = r.required_positive("vocab_size", kMaxVocab);
    c.hidden_size = r.required_positive("hidden_size", kMaxWidth);
    c.intermediate_size = r.required_positive("intermediate_size", kMaxWidth);
    c.num_hidden_layers = r.required_positive("num_hidden_layers", kMaxLayers);
    c.num_attention_heads = r.required_positive("num_attention_heads", kMaxHeads);

    // num_key_value_heads: explicit null means "= heads" (transformers: `if None: = heads`),
    // absent means the class's default argument.
    if (r.present("num_key_value_heads")) {
        c.num_key_value_heads = r.required_positive("num_key_value_heads", kMaxHeads);
    } else if (!r.has("num_key_value_heads") && d.kv_heads) {
        c.num_key_value_heads = *d.kv_heads;
    } else {
        c.num_key_value_heads = c.num_attention_heads;
    }
    if (c.num_attention_heads % c.num_key_value_heads != 0)
        throw Error(src, "num_key_value_heads",
                    std::to_string(c.num_key_value_heads) + " does not divide num_attention_heads " +
                        std::to_string(c.num_attention_heads));

    if (r.present("head_dim")) {
        c.head_dim = r.required_positive("head_dim", kMaxHeadDim);
    } else if (!r.has("head_dim") && d.head_dim) {
        c.head_dim = *d.head_dim;
    } else {
        if (c.hidden_size % c.num_attention_heads != 0)
            throw Error(src, "num_attention_heads",
                        std::to_string(c.num_attention_heads) + " does not divide hidden_size " +
                            std::to_string(c.hidden_size) + " and head_dim is not given");
        c.head_dim = c.hidden_size / c.num_attention_heads;
        if (c.head_dim > kMaxHeadDim)
            throw Error(src, "hidden_size",
                        "hidden_size / num_attention_heads = " + std::to_string(c.head_dim) +
                            " (the head_dim, not given) is implausibly large (at most " +
                            std::to_string(kMaxHeadDim) + ")");
    }

    if (int64_t(c.num_attention_heads) * c.head_dim > kMaxWidth)
        throw Error(src, "head_dim", "num_attention_heads x head_dim = " +
                                         std::to_string(int64_t(c.num_attention_heads) * c.head_dim) +
                                         " is implausibly large (at most " + std::to_string(kMaxWidth) + ")");
    c.rms_norm_eps = r.opt_double("rms_norm_eps").value_or(d.rms_norm_eps);
    if (!(c.rms_norm_eps > 0)) throw Error(src, "rms_norm_eps", "must be positive");
    c.rope_theta = r.opt_double("rope_theta").value_or(10000.0);
    if (!r.present("rope_theta") && r.present("rope_parameters") && j.at("rope_parameters").is_object()) {
        const json& rp = j.at("rope_parameters");
        if (rp.contains("rope_theta") && !rp.at("rope_theta").is_null())
            c.rope_theta = r.as_double(rp.at("rope_theta"), "rope_parameters.rope_theta");
    }
    if (!(c.rope_theta > 0)) throw Error(src, "rope_theta", "must be positive");
    c.partial_rotary_factor = r.opt_double("partial_rotary_factor").value_or(1.0);
    if (!(c.partial_rotary_factor > 0 && c.partial_rotary_factor <= 1.0))
        throw Error(src, "partial_rotary_factor", "must be in (0, 1]");
    if (!fam.partial_rotary && c.partial_rotary_factor != 1.0)
        throw Error(src, "partial_rotary_factor", "is not supported for model_type " + c.model_type);
    if (int(c.head_dim * c.partial_rotary_factor) % 2 != 0)
        throw Error(src, "partial_rotary_factor", "head_dim x partial_rotary_factor must be even");

    c.max_position_embeddings = r.opt_int("max_position_embeddings").value_or(d.max_position_embeddings);
    if (c.max_position_embeddings <= 0) throw Error(src, "max_position_embeddings", "must be positive");
    if (c.max_position_embeddings > kMaxPositions)
        throw Error(src, "max_position_embeddings", std::to_string(c.max_position_embeddings) +
                                                        " is implausibly large (at most " + std::to_string(kMaxPositions) + ")");

    c.tie_word_embeddings = r.opt_bool("tie_word_embeddings").value_or(d.tie);

    if (fam.attention_bias_fixed) {
        c.attention_bias = true;  // Qwen2Attention: q/k/v always have a bias, o has none
    } else if (fam.reads_attention_bias) {
        c.attention_bias = r.opt_bool("attention_bias").value_or(false);
    }
    if (fam.reads_mlp_bias) c.mlp_bias = r.opt_bool("mlp_bias").value_or(false);

    // Activation: the family's keys in order (gemma: hidden_activation only, see families/gemma.cpp).
    c.hidden_act = d.act;
    for (const std::string& key : fam.activation_keys)
        if (auto ha = r.opt_string(key.c_str())) {
            c.hidden_act = normalize_act(*ha, src, key.c_str());
            break;
        }

    // Sliding window.
    auto sw = [&](int fallback) -> int {
        if (!r.has("sliding_window")) return fallback;
        auto v = r.opt_int("sliding_window");
        if (!v) return 0;
        if (*v < 0 || *v > std::numeric_limits<int>::max()) throw Error(src, "sliding_window", "must be non-negative");
        return static_cast<int>(*v);
    };
    if (fam.sliding == SlidingPattern::from_max_window_layers) {
        c.use_sliding_window = r.opt_bool("use_sliding_window").value_or(false);
        const int64_t mwl = r.opt_int("max_window_layers").value_or(d.max_window_layers);
        if (mwl < 0 || mwl > std::numeric_limits<int>::max()) throw Error(src, "max_window_layers", "must be between 0 and 2^31-1");
        c.max_window_layers = static_cast<int>(mwl);
        int w = sw(d.sliding_window);
        c.sliding_window = c.use_sliding_window ? w : 0;
    } else if (fam.sliding == SlidingPattern::none) {
        c.sliding_window = 0;
    } else {
        c.sliding_window = sw(d.sliding_window);
    }

    if (fam.soft_capping) {
        c.query_pre_attn_scalar = r.opt_double("query_pre_attn_scalar").value_or(d.query_pre_attn_scalar);
        if (!(c.query_pre_attn_scalar > 0)) throw Error(src, "query_pre_attn_scalar", "must be positive");
        // null turns soft-capping off; absent means the class default.
        c.attn_logit_softcapping = r.has("attn_logit_softcapping") ? r.opt_double("attn_logit_softcapping").value_or(0.0) : d.attn_logit_softcapping;
        c.final_logit_softcapping = r.has("final_logit_softcapping") ? r.opt_double("final_logit_softcapping").value_or(0.0) : d.final_logit_softcapping;
        if (c.attn_logit_softcapping < 0) throw Error(src, "attn_logit_softcapping", "must be non-negative");
        if (c.final_logit_softcapping < 0) throw Error(src, "final_logit_softcapping", "must be non-negative");
    }

    parse_rope_scaling(r, c);
    if (fam.longrope_only && !c.rope_scaling.type.empty() && c.rope_scaling.type != "longrope")
        throw Error(src, "rope_scaling.rope_type", c.model_type + " supports only longrope (su), got '" + c.rope_scaling.type + "'");

    c.bos_token_ids = r.token_ids("bos_token_id", d.bos);
    c.eos_token_ids = r.token_ids("eos_token_id", d.eos);
    {
        std::vector<int> pad = r.token_ids("pad_token_id", d.pad >= 0 ? std::vector<int>{d.pad} : std::vector<int>{});
        c.pad_token_id = pad.empty() ? -1 : pad.front();
    }
    if (r.present("layer_types")) {
        const json& lt = j.at("layer_types");
        if (!lt.is_array() || static_cast<int>(lt.size()) != c.num_hidden_layers)
            throw Error(src, "layer_types", "must be an array with one entry per layer (" +
                                                std::to_string(c.num_hidden_layers) + ")");
        for (const auto& x : lt) {
            if (!x.is_string() || (x.get<std::string>() != "sliding_attention" && x.get<std::string>() != "full_attention"))
                throw Error(src, "layer_types", "entries must be \"sliding_attention\" or \"full_attention\", got " + brief(x));
            c.layer_types.push_back(x.get<std::string>());
        }
    } else {
        for (int i = 0; i < c.num_hidden_layers; ++i)
            c.layer_types.push_back(pattern_slides(fam, c, i) ? "sliding_attention" : "full_attention");
    }

    if (auto dt = r.opt_string("torch_dtype")) c.torch_dtype = *dt;
    else if (auto dt2 = r.opt_string("dtype")) c.torch_dtype = *dt2;
    return c;
}

ModelShape shape_from_config(const ModelConfig& c) {
    ModelShape s;
    s.layers = c.num_hidden_layers;
    auto set = [&](Module m, int64_t w) { s.width[static_cast<size_t>(m)] = static_cast<int>(w); };
    set(Module::q_proj, int64_t(c.num_attention_heads) * c.head_dim);
    set(Module::k_proj, int64_t(c.num_key_value_heads) * c.head_dim);
    set(Module::v_proj, int64_t(c.num_key_value_heads) * c.head_dim);
    set(Module::o_proj, c.hidden_size);
    set(Module::gate_proj, c.intermediate_size);
    set(Module::up_proj, c.intermediate_size);
    set(Module::act_fn, c.intermediate_size);
    set(Module::down_proj, c.hidden_size);
    set(Module::post_attention_layernorm, c.hidden_size);
    return s;
}

std::vector<int> parse_generation_eos(const std::string& text, const std::string& src) {
    const json j = parse_json(text, src);
    if (!j.is_object()) throw Error(src, "", "expected a JSON object");
    Reader r(j, src);
    return r.token_ids("eos_token_id", {});
}

std::vector<int> load_generation_eos(const std::string& path) {
    const std::string text = read_file(path);
    if (text.size() > 16u * 1024 * 1024) throw Error(path, "", "generation config is implausibly large");
    return parse_generation_eos(text, path);
}

ModelConfig load_config(const std::string& path) {
    const std::string text = read_file(path);
    if (text.size() > 64u * 1024 * 1024) throw Error(path, "", "config file is implausibly large");
    return parse_config(text, path);
}

}  // namespace achilles
