"""dfad-bench: benchmark toolkit and leaderboard harness for fine-grained deepfake attribution and detection."""

__version__ = "0.1.0"


def __getattr__(name: str):  # noqa: ANN202 - lazy: `import dfad_bench` stays light
    if name == "load_detector":
        from dfad_bench.predict import load_detector

        return load_detector
    raise AttributeError(f"module 'dfad_bench' has no attribute {name!r}")
