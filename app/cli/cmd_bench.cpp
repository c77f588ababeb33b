// SPDX-License-Identifier: GPL-3.0-or-later
#include "achilles/error.h"
#include "achilles/bench.h"
#include "achilles/search.h"
#include "cli_util.h"
#include <iomanip>
#include <iostream>
#include <sstream>
#include <memory>
#include <nlohmann/json.hpp>

namespace achilles::cli {

namespace {
struct BenchCliOpts {
    ModelOpts m;
    BenchOptions b;
};
}  // namespace

void register_bench(CLI::App& app, Globals& g, Runner& run) {
    auto* sub = app.add_subcommand("bench", "measured ratios: forward GFLOP/s vs GEMM peak, load RSS, stage-1 overhead and memory, bisect");
    auto o = std::make_shared<BenchCliOpts>();
    sub->add_option("--layers", o->b.layers, "layers of the Qwen2.5-0.5B-shaped random model")->capture_default_str();
    sub->add_option("--tokens", o->b.tokens, "sequence length")->capture_default_str();
    sub->add_option("--samples", o->b.samples, "K for the stage-1 overhead row")->capture_default_str();
    sub->add_option("--seed", o->b.seed, "weight seed")->capture_default_str();
    sub->add_flag("--quick", o->b.quick, "shrink everything (smoke run)");
    sub->add_option("--model", o->b.model, "model for the bisect-vs-linear row (default: the embedded model)");
    sub->add_option("--only", o->b.only,
                    "comma list of parts: forward, stage1, memory, load, bisect, small, toggle, startup, side-by-side, "
                    "llama8b (default: all but llama8b on cpu; forward, stage1, llama8b on cuda)");
    sub->add_option("--llama8b-layers", o->b.llama8b_layers, "layers of the Llama-3-8B-shaped model (llama8b part)")
        ->capture_default_str();
    sub->add_option("--llama8b-samples", o->b.llama8b_samples, "K of the llama8b stage 1")->capture_default_str();
    sub->add_option("--llama8b-batch", o->b.llama8b_batch, "noisy samples per forward in the llama8b stage 1")
        ->capture_default_str();
    sub->add_option("--scratch", o->b.scratch, "folder for the temporary checkpoint");
    sub->add_option("--threads", o->b.threads,
                    "comma list of thread counts for the forward rows (libtorch and OpenBLAS; default: 1 and all "
                    "cores); stage 1 runs at the last one");
    sub->add_option("--rounds", o->b.rounds, "interleaved forward/GEMM rounds per thread count (default 7, quick 2)");
    add_device_opts(sub, o->m);
    on_run(sub, run, [&g, o] {  // body indented as before, to keep this diff small
            {
                if (!o->m.devices.empty())
                    throw achilles::Error("command line", "--devices", "the benchmark runs on one device (--device)");
                o->b.device = o->m.device;
                o->b.dtype = o->m.dtype;
                CliProgress progress(g.quiet);
                auto rows = run_bench(o->b, progress);
                progress.finish();
                if (g.json) {
                    nlohmann::json j = nlohmann::json::array();
                    for (const auto& r : rows) {
                        nlohmann::json x{{"name", r.name}, {"value", r.value}, {"unit", r.unit}, {"detail", r.detail}};
                        if (r.has_target) {
                            x["target"] = r.target;
                            x["higher_is_better"] = r.higher_is_better;
                            x["pass"] = r.pass;
                        }
                        j.push_back(x);
                    }
                    std::cout << nlohmann::json{{"bench", j}}.dump(2) << "\n";
                } else {
                    std::cout << std::left << std::setw(50) << "measure" << std::setw(14) << "value" << std::setw(12)
                              << "target" << "detail\n";
                    for (const auto& r : rows) {
                        std::ostringstream v, t;
                        v << std::setprecision(4) << r.value;
                        if (r.has_target)
                            t << (r.higher_is_better ? ">= " : "<= ") << r.target << (r.pass ? " ok" : " MISS");
                        std::cout << std::left << std::setw(50) << r.name << std::setw(14) << v.str() << std::setw(12)
                                  << t.str() << r.detail << "\n";
                    }
                }
                return 0;
            }
    });
}

}  // namespace achilles::cli
