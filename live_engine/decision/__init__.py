"""The decision: agents (and their YAML), the Hedge coordinator, consensus and the ``DecisionCore``. No I/O."""
