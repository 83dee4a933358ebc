"""Risk rule objects with reason codes and the risk engine's states. No I/O."""
