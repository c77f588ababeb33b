// SPDX-License-Identifier: GPL-3.0-or-later
#include "achilles/chat_template.h"
#include "achilles/config.h"
#include "achilles/error.h"
#include <filesystem>
#include "cli_util.h"
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

namespace achilles::cli {

namespace {
struct GenOpts {
    ModelOpts m;
    TextInput input;
    std::string mask;
    GenerateOptions g;
    bool greedy = false;
    int64_t context = 0;   // 0: the model's max_position_embeddings
    bool chat_template = false;
};
}  // namespace

void register_generate(CLI::App& app, Globals& g, Runner& run) {
    auto* sub = app.add_subcommand("generate", "KV-cached decoding, greedy or sampled, optionally with a mask");
    auto o = std::make_shared<GenOpts>();
    add_model_opts(sub, o->m);
    o->input.flags = {.text = "--prompt", .file = "", .text_help = "prompt text ([BOS] + tokens)", .ids_help = "prompt ids, used exactly"};
    add_text_input(sub, o->input);
    sub->add_option("--max-new", o->g.max_new, "new tokens at most")->capture_default_str();
    auto* gr = sub->add_flag("--greedy", o->greedy, "greedy decoding (the default unless sampling flags are given)");
    auto* t = sub->add_option("--temperature", o->g.temperature, "sampling temperature");
    auto* p = sub->add_option("--top-p", o->g.top_p, "nucleus sampling threshold");
    auto* k = sub->add_option("--top-k", o->g.top_k, "top-k sampling (0: off)");
    auto* s = sub->add_option("--seed", o->g.seed, "sampling seed");
    gr->excludes(t, p, k);
    (void)s;
    sub->add_option("--mask", o->mask, "mask spec");
    sub->add_option("--context", o->context,
                    "positions at most, prompt included (default: the model's max_position_embeddings; "
                    "raise it deliberately to decode past the trained context)");
    sub->add_flag("--no-stop{false}", o->g.stop_at_eos, "keep decoding past EOS (up to --max-new)");
    sub->add_flag("--chat-template", o->chat_template,
                  "render the prompt as one user message with the model's chat template (add_generation_prompt=true)");
    on_run(sub, run, [&g, o, sub] {
        GenerateOptions go = o->g;
        const bool sampled = sub->count("--temperature") + sub->count("--top-p") + sub->count("--top-k") > 0;
        go.greedy = o->greedy || !sampled;
        if (go.max_new < 0) throw Error("command line", "--max-new", "must not be negative");
        if (!go.greedy && !(go.temperature > 0))
            throw Error("command line", "--temperature", "must be positive");
        if (!(go.top_p > 0 && go.top_p <= 1)) throw Error("command line", "--top-p", "must be in (0, 1]");
        if (go.top_k < 0) throw Error("command line", "--top-k", "must not be negative");
        MaskSpec mask;
        if (!o->mask.empty()) mask = parse_mask_spec(o->mask);
        const Input in = read_text_input(o->input, false);
        std::vector<int> ids = in.ids;
        if (o->chat_template && !ids.empty())
            throw Error("command line", "--chat-template", "applies to a text prompt, not to --ids");
        std::string chat_text;  // the rendered prompt
        std::error_code ec;
        if (o->chat_template && std::filesystem::is_directory(o->m.model, ec))
            chat_text = load_chat_template(o->m.model).render_user_prompt(in.text);  // fails before the model loads
        CliProgress progress(g.quiet);
        auto engine = load_engine(o->m, progress);
        progress.finish();
        if (o->chat_template && chat_text.empty())
            chat_text = load_chat_template(engine->info().fingerprint.path).render_user_prompt(in.text);
        validate_mask(mask, engine->info().shape);
        if (ids.empty()) {
            const Tokenizer* tok = engine->tokenizer();
            if (!tok) throw Error(o->m.model, "tokenizer", "the model folder has no tokenizer; use --ids");
            const int bos = engine->info().bos_id;
            if (o->chat_template) {
                // As in eval (benchmark.h): no special tokens added, nothing prepended; BOS only where the template writes it.
                EncodeOptions plain;
                plain.add_special = false;
                ids = tok->encode(chat_text, plain);
                if (ids.empty() && bos >= 0) ids.push_back(bos);
            } else {
                ids = tok->encode(in.text, EncodeOptions{});
            }
            if (ids.empty() && bos >= 0) ids.push_back(bos);
            if (ids.empty()) throw Error("command line", "--prompt", "the prompt gives no tokens");
        } else {
            for (int id : ids)
                if (id < 0 || id >= engine->info().vocab)
                    throw Error("command line", "--ids", "id " + std::to_string(id) + " is outside the vocabulary");
        }
        // Bound the work by the context: prompt + new tokens must fit in it.
        const int64_t trained = model_context(*engine);
        if (o->context < 0) throw Error("command line", "--context", "must be positive");
        if (o->context > kMaxPositions)
            throw Error("command line", "--context", "is larger than " + std::to_string(kMaxPositions));
        const int64_t limit = o->context > 0 ? o->context : trained;
        if (limit > 0) {
            const int64_t P = static_cast<int64_t>(ids.size());
            if (P >= limit)
                throw Error("command line", in.has_ids ? "--ids" : "--prompt",
                            "the prompt has " + std::to_string(P) + " tokens, which fills the context of " +
                                std::to_string(limit) + " positions" +
                                (o->context > 0 ? "" : " (max_position_embeddings; raise it with --context)"));
            if (P + go.max_new > limit) {
                const int capped = static_cast<int>(limit - P);
                std::cerr << "note: --max-new " << go.max_new << " capped to " << capped << ": prompt (" << P
                          << ") + new tokens must fit the context of " << limit << " positions"
                          << (o->context > 0 ? "" : " (raise it with --context)") << "\n";
                go.max_new = capped;
            }
        }
        const bool stream = !g.json;
        GenerateResult r = engine->generate(ids, go, mask, progress, [&](const TokenStep& st) {
            if (stream) std::cout << st.text << std::flush;
        });
        if (g.json) {
            nlohmann::json j;
            j["prompt_ids"] = r.prompt_ids;
            j["text"] = r.text;
            std::vector<int> out_ids;
            nlohmann::json steps = nlohmann::json::array();
            for (const auto& st : r.steps) {
                out_ids.push_back(st.id);
                nlohmann::json sj{{"id", st.id}, {"text", st.text}, {"logprob", st.logprob}};
                nlohmann::json alts = nlohmann::json::array();
                for (const auto& al : st.alternatives)
                    alts.push_back({{"id", al.id}, {"text", al.text}, {"logprob", al.logprob}});
                sj["alternatives"] = alts;
                steps.push_back(sj);
            }
            j["ids"] = out_ids;
            j["steps"] = steps;
            j["stopped_at_eos"] = r.stopped_at_eos;
            std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        } else {
            std::cout << "\n\nids:";
            for (const auto& st : r.steps) std::cout << " " << st.id;
            std::cout << "\nlogprobs:";
            for (const auto& st : r.steps) std::cout << " " << st.logprob;
            std::cout << "\n";
        }
        return 0;
    });
}

}  // namespace achilles::cli
