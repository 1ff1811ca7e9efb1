"""DFAD-Mini: the embedded, fully synthetic offline benchmark (renderer, generators, build).

Submodules are imported lazily by their users (``dfad_bench.mini.renderer``,
``dfad_bench.mini.build``...), so importing this package stays cheap.
"""
