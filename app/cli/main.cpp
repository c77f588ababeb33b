// SPDX-License-Identifier: GPL-3.0-or-later
// achilles-cli: the command-line face of the workbench.
#include "cli_util.h"
#include "commands.h"
#include <iostream>
#include <string>

int main(int argc, char** argv) {
    using namespace achilles::cli;
    install_signal_handlers();  // before anything else: an early Ctrl-C must not kill half-done work
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
    register_compare(app, g, run);
    register_eval(app, g, run);
    register_mechanism(app, g, run);
    // A first word that is neither a flag nor a command: say so plainly.
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--json" || a == "--quiet") continue;
        if (!a.empty() && a[0] != '-') {
            bool known = false;
            for (const CLI::App* sub : app.get_subcommands({})) known = known || sub->get_name() == a;
            if (!known) {
                std::cerr << "error: unknown command '" << a << "' (see achilles-cli --help)\n";
                return 2;
            }
        }
        break;
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }
    if (!run) return 2;
    return run();
}
