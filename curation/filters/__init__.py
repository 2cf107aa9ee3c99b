"""Per-document heuristic filters: web (FineWeb set), code (OpenCoder-style rules, syntax) and math."""
