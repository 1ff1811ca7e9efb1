"""dfad-bench: benchmark toolkit and leaderboard harness for fine-grained deepfake attribution and detection."""

__version__ = "0.1.0"
