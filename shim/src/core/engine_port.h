// ChannelPort over tmc::Channel, and the factory the shim library uses in production.
#pragma once

#include <memory>

#include "core/channel_port.h"

namespace tmc::shim {

// A factory whose channels share one engine Runtime created for this process (and created
// anew in a fork child, where the parent's runtime thread does not exist).
std::shared_ptr<ChannelFactory> make_engine_factory();

}  // namespace tmc::shim
