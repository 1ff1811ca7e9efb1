"""The cached audit result per benchmark, and the warning boards and run records show from it.

An audit is stored as ``<cache>/audit/<samples_hash>.json`` (dfad_bench.paths.cache_dir). The
key is the manifest's samples hash, the hash leaderboards group runs by, so a board or a run
record can find the audit of its benchmark without knowing where the report went. The file
also keeps the full manifest hash: the samples hash leaves out byte digests, so a re-encoded
copy of the same samples shares the key while its file-level cues may differ; the warning
says so when the hashes disagree.
"""

from __future__ import annotations

import json
from pathlib import Path

from dfad_bench.atomic import write_json_atomic
from dfad_bench.manifest import Manifest
from dfad_bench.paths import cache_dir

AUDIT_KIND = "shortcut-audit"


def audit_cache_path(samples_hash: str) -> Path:
    return cache_dir("audit") / f"{samples_hash}.json"


def save_audit(result: dict) -> Path:
    """Write ``result`` (the audit JSON) to the cache under its samples hash; return the path.

    Protocols audited earlier on the same image bytes (same manifest hash) and absent from
    ``result`` are kept, so auditing one protocol does not drop the verdicts of the others.
    """
    path = audit_cache_path(result["samples_hash"])
    old = load_audit(result["samples_hash"])
    if old is not None and old.get("manifest_hash") == result["manifest_hash"]:
        mine = {p["protocol"] for p in result["protocols"]}
        kept = [p for p in old.get("protocols", []) if p["protocol"] not in mine]
        if kept:
            result = {**result, "protocols": kept + list(result["protocols"])}
            result["flagged"] = any(p["flagged"] for p in result["protocols"])
    write_json_atomic(path, result)
    return path


def load_audit(benchmark: str | Manifest) -> dict | None:
    """The cached audit of a benchmark (a samples hash or a Manifest), or None if never audited."""
    key = benchmark.samples_hash if isinstance(benchmark, Manifest) else str(benchmark)
    path = audit_cache_path(key)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # a damaged cache entry is the same as no audit; rerunning the audit rewrites it
    return data if isinstance(data, dict) and data.get("kind") == AUDIT_KIND else None


def audit_warning(benchmark: str | Manifest, protocol: str | None = None) -> str | None:
    """One-line warning when the benchmark's cached audit flags a file-level shortcut, else None.

    ``benchmark`` is a samples hash (``record.manifest.samples_hash``-like) or a Manifest.
    With ``protocol`` (``name@version`` or ``name``), only that protocol's verdict counts; a
    protocol the audit did not cover falls back to every audited protocol. No cached audit:
    None (not audited is not the same as flagged).
    """
    data = load_audit(benchmark)
    if data is None:
        return None
    rows = [p for p in data.get("protocols", []) if p.get("flagged")]
    if protocol is not None:
        name = protocol.partition("@")[0]
        mine = [p for p in data.get("protocols", []) if p["protocol"] == protocol or p["protocol"].partition("@")[0] == name]
        if mine:
            rows = [p for p in mine if p.get("flagged")]
    if not rows:
        return None
    worst: dict[str, float] = {}
    for p in rows:
        for g in p["flagged"]:
            worst[g] = max(worst.get(g, 0.0), p["groups"][g]["auc"])
    cues = ", ".join(f"{g} AUC {a:.2f}" for g, a in sorted(worst.items()))
    where = ", ".join(p["protocol"] for p in rows)
    msg = (f"shortcut audit: file-level cues separate real from fake ({cues} > {data['threshold']:.2f} "
           f"on {where}); see dfad-bench audit shortcuts")
    if isinstance(benchmark, Manifest) and data.get("manifest_hash") not in (None, benchmark.hash):
        msg += " (audited copy of the images differs in bytes)"
    return msg
