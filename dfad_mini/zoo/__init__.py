"""The generator zoo's training: data (:mod:`.data`), one generator's training (:mod:`.stage`),
export (:mod:`.export`), pictures (:mod:`.grids`), the whole run (:mod:`.run`), bundles
(:mod:`.bundle`). ``python -m dfad_mini.train`` is its command line."""
