// `tmc sequencer --manifest M [--listen ADDR:PORT] [--capabilities F]`: runs a dedicated
// sequencer (tmc::SequencerService) for the manifest's total-order channel until SIGTERM or
// SIGINT, then prints what it stamped. The capabilities file the members use names it
// (`sequencer: "ADDR:PORT"`); docs/transport.md "Dedicated sequencer".
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "command.h"
#include "tmc/capabilities.h"
#include "tmc/manifest_yaml.h"
#include "tmc/sequencer_service.h"

namespace tmc::tool {

const std::string_view kSequencerUsage =
    "usage: tmc sequencer --manifest MANIFEST [--listen ADDR:PORT] [--capabilities FILE]\n"
    "\n"
    "Runs the dedicated sequencer of the channel MANIFEST describes (YAML, docs/manifest.md;\n"
    "its defaults must say ordering: total and list the members with their addresses). It stamps\n"
    "every total-order message with the next group sequence, sends the stamps and heartbeats to\n"
    "the members, answers their requests for missing stamps and acknowledges the messages when\n"
    "the channel is reliable. The members' capabilities file names it: sequencer: \"ADDR:PORT\".\n"
    "  --listen ADDR:PORT   address to bind (default: the capabilities file's sequencer). With\n"
    "                       port 0 and no capabilities file the bound address is the name.\n"
    "  --capabilities FILE  the operator's capabilities file (default: $TMC_CAPABILITIES if set)\n"
    "Prints 'tmc sequencer: listening on ADDR:PORT ...' once ready; runs until SIGTERM or SIGINT,\n"
    "then prints the messages it stamped and the view it ended in.\n"
    "Exit status: 0 stopped by a signal, 78 a malformed or unusable manifest or capabilities file,\n"
    "1 the address cannot be bound, 2 usage error.\n";

int run_sequencer(std::span<char*> args) {
  std::optional<std::string> manifest_path, capabilities_path, listen;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg(args[i]);
    auto value = [&](std::optional<std::string>& into) {
      if (i + 1 >= args.size()) return false;
      into = args[++i];
      return true;
    };
    bool ok = false;
    if (arg == "--manifest" || arg == "-m") ok = value(manifest_path);
    else if (arg == "--capabilities" || arg == "-c") ok = value(capabilities_path);
    else if (arg == "--listen" || arg == "-l") ok = value(listen);
    if (!ok) {
      std::fprintf(stderr, "tmc sequencer: unexpected or incomplete argument '%s'\n%.*s", args[i],
                   static_cast<int>(kSequencerUsage.size()), kSequencerUsage.data());
      return kExitUsage;
    }
  }
  if (!manifest_path) {
    std::fprintf(stderr, "%.*s", static_cast<int>(kSequencerUsage.size()), kSequencerUsage.data());
    return kExitUsage;
  }
  if (!capabilities_path)
    if (const char* env = std::getenv("TMC_CAPABILITIES"); env && *env) capabilities_path = env;

  // Block the stop signals before any thread starts (the runtime thread inherits the mask), so
  // sigwait below is the only place they are taken.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  std::unique_ptr<SequencerService> sequencer;
  try {
    const Manifest manifest = load_manifest_file(*manifest_path);
    SequencerOptions options;
    if (listen) options.listen = *listen;
    if (capabilities_path) options.capabilities = std::make_shared<Capabilities>(load_capabilities_file(*capabilities_path));
    sequencer = std::make_unique<SequencerService>(manifest, options);
  } catch (const ConfigError& error) {
    std::fprintf(stderr, "tmc sequencer: %s\n", error.what());
    return kExitConfig;
  } catch (const std::system_error& error) {
    std::fprintf(stderr, "tmc sequencer: %s\n", error.what());
    return 1;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "tmc sequencer: %s: %s\n", manifest_path->c_str(), error.what());
    return kExitConfig;
  }
  const Stats start = sequencer->stats();
  std::printf("tmc sequencer: listening on %s (port %u), view %u sequencer %s\n", sequencer->name().c_str(),
              sequencer->local_port(), start.sequencer_view, start.sequencer.c_str());
  const std::string plan = sequencer->plan();
  if (auto at = plan.find("ordering: "); at != std::string::npos)
    std::printf("tmc sequencer: %s\n", plan.substr(at, plan.find('\n', at) - at).c_str());
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop, &signal_number);
  sequencer->close();
  const Stats stats = sequencer->stats();
  std::printf("tmc sequencer: stopped by signal %d: stamped %llu messages, answered %llu stamp requests; view %u, "
              "sequencer %s; %llu sequencer changes; %llu packets received, %llu acks sent\n",
              signal_number, static_cast<unsigned long long>(stats.messages_stamped),
              static_cast<unsigned long long>(stats.stamp_requests_answered), stats.sequencer_view,
              stats.sequencer.c_str(), static_cast<unsigned long long>(stats.sequencer_changes),
              static_cast<unsigned long long>(stats.packets_received), static_cast<unsigned long long>(stats.acks_sent));
  std::fflush(stdout);
  return 0;
}

}  // namespace tmc::tool
