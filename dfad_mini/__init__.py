"""DFAD-Mini: the embedded, fully synthetic offline benchmark (renderer, generators, build).

Submodules are imported lazily by their users (``dfad_mini.renderer``,
``dfad_mini.build``...), so importing this package stays cheap.
"""
