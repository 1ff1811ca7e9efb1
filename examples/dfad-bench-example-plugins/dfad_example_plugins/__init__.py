"""Example outside plug-ins for dfad-bench: a benchmark, a backbone and a gaze encoder.

Nothing here is imported by dfad-bench by name: ``pyproject.toml`` lists them under the
``dfad_bench.benchmarks``, ``dfad_bench.backbones`` and ``dfad_bench.gaze_encoders`` entry-point
groups, and dfad-bench imports each module only when that name is first used.
"""
