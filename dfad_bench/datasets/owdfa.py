"""``owdfa:ROOT``: the OW-DFA open-world attribution collections (Sun et al., ICCV 2023).

Assumed layout: the collection's images under ROOT and its metadata lists, one per split,
``ROOT/{train,val,test}.txt`` (``val`` optional), one sample per line: ``<relative image path>
<label>`` where ``<label>`` is a method name (``real`` for pristine) or an integer index into
``ROOT/labels.txt`` (one method name per line, line 0 = index 0). The list's split becomes the
``split_hint``. A path under a video folder of the FF++ naming ``XXX_YYY`` or ``XXX`` gets the
identity ``XXX`` of that source collection's first folder; others a per-image identity.
Licence: OW-DFA's metadata terms, and each source dataset's (FF++, Celeb-DF, ForgeryNet, ...).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from dfad_bench.datasets import DatasetAdapter
from dfad_bench.datasets.layout import Sample, build_adapted_manifest, canonical_name, require_dir
from dfad_bench.errors import DfadError
from dfad_bench.manifest import Manifest
from dfad_bench.taxonomy import REAL

_VIDEO = re.compile(r"^(\d{3})(_\d{3})?$")


def build(root: Path, options: Mapping[str, str], source: str) -> Manifest:
    root = require_dir(root, "OW-DFA")
    labels_file = root / "labels.txt"
    labels = [ln.strip() for ln in labels_file.read_text().splitlines() if ln.strip()] if labels_file.is_file() else []
    lists = [(s, root / f"{s}.txt") for s in ("train", "val", "test") if (root / f"{s}.txt").is_file()]
    if not lists:
        raise DfadError(f"{root}: no OW-DFA metadata list found; expected train.txt and test.txt (val.txt optional)")
    samples: list[Sample] = []
    for split, file in lists:
        for n, line in enumerate(file.read_text().splitlines(), 1):
            if not line.strip():
                continue
            fields = line.rsplit(maxsplit=1)
            if len(fields) != 2:
                raise DfadError(f"{file}:{n}: expected '<path> <label>', got {line.strip()!r}")
            rel, label = fields
            if label.isdigit():
                if int(label) >= len(labels):
                    raise DfadError(f"{file}:{n}: label index {label} but {labels_file} has {len(labels)} names")
                label = labels[int(label)]
            generator = canonical_name(label)
            parts = Path(rel).parts
            video = next((m.group(1) for p in parts[:-1] if (m := _VIDEO.match(p))), None)
            samples.append(Sample(Path(rel).as_posix(), REAL if generator == REAL else generator, split_hint=split,
                                  identity=f"{parts[0]}-{video}" if video else None))
    return build_adapted_manifest(samples, root, source)


ADAPTER = DatasetAdapter(name="owdfa", description="OW-DFA metadata lists (<split>.txt: path label)", build=build)
