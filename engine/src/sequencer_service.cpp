// tmc::SequencerService: a Channel in the dedicated-sequencer role (core/channel_core.h,
// Config::dedicated_sequencer) — the total-order machinery of the members (ordering/) runs
// unchanged inside it.
#include "tmc/sequencer_service.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <system_error>

#include "core/socket_address.h"

namespace tmc {
namespace {

// The engine's sockets bind chosen ports with SO_REUSEADDR (members sharing a group port), so a
// second sequencer on the same address would bind too and take its unicast traffic while the
// first kept sending heartbeats. A bind without SO_REUSEADDR fails while anyone holds it.
void require_unused(const core::SocketAddress& address) {
  if (address.port() == 0) return;
  const int fd = ::socket(address.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  const int result = ::bind(fd, address.raw(), address.length);
  const int error = errno;
  ::close(fd);
  if (result != 0)
    throw std::system_error(error, std::generic_category(),
                            "bind " + address.to_string() + (error == EADDRINUSE ? " (another sequencer running there?)" : ""));
}

}  // namespace

SequencerService::SequencerService(const Manifest& manifest, const SequencerOptions& options) {
  if (manifest.ordering != Ordering::total)
    throw std::invalid_argument("a dedicated sequencer serves channels whose ordering is total");
  std::shared_ptr<const Capabilities> capabilities = options.capabilities;
  if (!capabilities)
    if (const char* path = std::getenv("TMC_CAPABILITIES"); path && *path)
      capabilities = std::make_shared<Capabilities>(load_capabilities_file(path));
  std::string name;
  if (capabilities && !capabilities->sequencer.empty()) {
    name = capabilities->sequencer;
    if (!core::SocketAddress::parse(name))
      throw std::invalid_argument(capabilities->source + ": sequencer '" + name +
                                  "' is not a host:port address: a member sequences, no dedicated sequencer is declared");
  }
  std::string listen = options.listen.empty() ? name : options.listen;
  if (listen.empty())
    throw std::invalid_argument("a dedicated sequencer needs an address to listen on, or a capabilities file naming it");
  const auto listen_address = core::SocketAddress::parse(listen);
  if (!listen_address) throw std::invalid_argument("listen address '" + listen + "' is not host:port");
  if (name.empty() && listen_address->is_unspecified())
    throw std::invalid_argument("listening on " + listen +
                                " needs a capabilities file whose sequencer names the address members send to");
  require_unused(*listen_address);
  ChannelOptions channel_options{.self = name, .local_address = listen, .runtime = options.runtime,
                                 .faults = options.faults, .capabilities = capabilities};
  channel_ = std::unique_ptr<Channel>(new Channel(manifest, channel_options, true));
  if (name.empty()) {
    core::SocketAddress bound = *listen_address;
    bound.set_port(channel_->local_port());
    name = bound.to_string();
  }
  name_ = name;
}

SequencerService::~SequencerService() = default;

std::uint16_t SequencerService::local_port() const { return channel_->local_port(); }
void SequencerService::add_member(const Member& member) { channel_->add_member(member); }
Stats SequencerService::stats() const { return channel_->stats(); }
std::string SequencerService::plan() const { return channel_->plan(); }
void SequencerService::close() { channel_->close(); }

}  // namespace tmc
