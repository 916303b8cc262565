"""tmcab: the libTMC A/B harness (see docs/harness.md)."""
