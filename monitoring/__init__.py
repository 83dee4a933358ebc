"""Model monitoring: feature drift between the champion's training data and the engine's logged vectors."""
