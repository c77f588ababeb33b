// SPDX-License-Identifier: GPL-3.0-or-later
#include "cli_util.h"
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

namespace achilles::cli {

void register_info(CLI::App& app, Globals& g, Runner& run) {
    auto* sub = app.add_subcommand("info", "print a model's architecture, sizes and fingerprint");
    auto o = std::make_shared<ModelOpts>();
    add_model_opts(sub, *o);
    on_run(sub, run, [&g, o] {
        CliProgress progress(g.quiet);
        auto engine = load_engine(*o, progress);
        progress.finish();
        const ModelInfo& i = engine->info();
        nlohmann::json j;
        j["path"] = i.fingerprint.path;
        j["config_hash"] = i.fingerprint.config_hash;
        j["header_hash"] = i.fingerprint.header_hash;
        j["model_type"] = i.model_type;
        j["architecture"] = i.architecture;
        j["dtype"] = i.dtype;
        j["device"] = i.device;
        j["parameters"] = i.parameters;
        j["weight_bytes"] = i.weight_bytes;
        j["layers"] = i.layers;
        j["hidden"] = i.hidden;
        j["intermediate"] = i.intermediate;
        j["heads"] = i.heads;
        j["kv_heads"] = i.kv_heads;
        j["head_dim"] = i.head_dim;
        j["vocab"] = i.vocab;
        j["bos_id"] = i.bos_id;
        j["eos_id"] = i.eos_id;
        j["has_tokenizer"] = i.has_tokenizer;
        nlohmann::json w = nlohmann::json::object();
        for (Module m : kAllModules) w[std::string(module_name(m))] = i.shape.module_width(m);
        j["module_widths"] = w;
        j["warnings"] = i.warnings;
        j["libtorch"] = libtorch_version();
        j["available_devices"] = available_devices();
        if (g.json) {
            std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        } else {
            std::cout << i.architecture << " (" << i.model_type << ") from " << i.fingerprint.path << "\n"
                      << "  layers " << i.layers << ", hidden " << i.hidden << ", intermediate "
                      << i.intermediate << ", heads " << i.heads << "/" << i.kv_heads << " (head_dim "
                      << i.head_dim << "), vocab " << i.vocab << "\n"
                      << "  parameters " << i.parameters << ", weight bytes " << i.weight_bytes << ", dtype "
                      << i.dtype << ", device " << i.device << "\n"
                      << "  bos " << i.bos_id << ", eos " << i.eos_id << ", tokenizer "
                      << (i.has_tokenizer ? "yes" : "no") << "\n"
                      << "  config " << i.fingerprint.config_hash << ", header " << i.fingerprint.header_hash
                      << "\n";
            std::cout << "  libtorch " << libtorch_version() << ", devices";
            for (const auto& d : available_devices()) std::cout << " " << d;
            std::cout << "\n";
            for (const auto& wn : i.warnings) std::cout << "  warning: " << wn << "\n";
        }
        return 0;
    });
}

}  // namespace achilles::cli
