// SPDX-License-Identifier: GPL-3.0-or-later
// achilles-cli: the command-line face of the workbench.
#include "commands.h"
#include <iostream>

int main(int argc, char** argv) {
    using namespace achilles::cli;
    CLI::App app{"achilles-cli: find and study the few neurons whose masking collapses an LLM (arXiv 2510.10238)"};
    app.require_subcommand(1);
    app.fallthrough();
    Globals g;
    app.add_flag("--json", g.json, "print one JSON document on stdout");
    app.add_flag("--quiet", g.quiet, "no progress on stderr");
    Runner run;
    register_info(app, g, run);
    register_tokenize(app, g, run);
    register_ppl(app, g, run);
    register_generate(app, g, run);
    register_search(app, g, run);
    register_bench(app, g, run);
    register_train(app, g, run);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }
    if (!run) return 2;
    return run();
}
