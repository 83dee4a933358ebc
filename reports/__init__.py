"""Daily and weekly trading reports and the feature / agent analyses, built from what the engine recorded:
its journal (orders, fills), its decision log (feature vectors, votes, weights, latency) and the bundle
of the model version it traded (docs/reports.md)."""
