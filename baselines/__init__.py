"""Baseline plug-ins. Each registers through the ``dfad_bench.models`` entry-point group, exactly
as an outside package would; the core never imports this package."""
