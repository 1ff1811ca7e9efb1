"""Hub weights: find an open_clip tag's checkpoint in the local caches, or fail fast when offline.

open_clip resolves a tag through ``pretrained.get_pretrained_cfg`` (an ``hf_hub`` id and/or a
``url``) and ``pretrained.download_pretrained`` (``hf_hub_download``, preferring a ``.safetensors``
sibling). Without ``HF_HUB_OFFLINE`` a failed lookup retries for 23-46 s, so we look in the caches
ourselves first (``huggingface_hub.try_to_load_from_cache`` never touches the network) and only
call open_clip's downloader when the file is missing and the hub answers a short HTTP probe.
"""

from __future__ import annotations

import os
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dfad_bench.errors import DfadError

PROBE_TIMEOUT_S = 1.5
_TRUE = {"1", "ON", "YES", "TRUE"}


@dataclass(frozen=True)
class HubCheckpoint:
    path: Path
    pretrained_cfg: dict[str, Any]
    origin: str  # 'hf-cache', 'url-cache' or 'downloaded'


def hub_offline() -> bool:
    """Read at call time (huggingface_hub reads it once at import)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in _TRUE


def hub_answers(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """True when an HTTP HEAD of ``url`` gets a non-error answer within ``timeout_s`` in total.

    An HTTP request, not a bare TCP connect: some sandboxes accept every TCP connection and then
    block, where huggingface_hub would retry for tens of seconds. DNS has no timeout in urllib,
    so the request runs in a daemon thread that we stop waiting for.
    """
    result: dict[str, bool] = {}

    def probe() -> None:
        request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "dfad-bench-probe"})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                result["ok"] = response.status < 400
        except (OSError, ValueError):  # URLError/HTTPError/timeouts are OSError subclasses
            result["ok"] = False

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout_s)
    return result.get("ok", False)


def _hf_endpoint() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.ENDPOINT)
    except ImportError:
        return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def _hf_candidates(hf_hub: str) -> tuple[str, list[str]]:
    from open_clip.constants import HF_WEIGHTS_NAME
    from open_clip.pretrained import _get_safe_alternatives

    model_id, filename = os.path.split(hf_hub)
    filename = filename or HF_WEIGHTS_NAME
    return model_id, [*_get_safe_alternatives(filename), filename]


def find_cached_checkpoint(cfg: dict[str, Any]) -> tuple[Path, str] | None:
    """The locally cached file open_clip would load for this tag, without any network access."""
    from open_clip.pretrained import has_hf_hub

    if cfg.get("file"):
        return Path(cfg["file"]), "file"
    hf_hub = cfg.get("hf_hub", "")
    if hf_hub and has_hf_hub():
        from huggingface_hub import try_to_load_from_cache

        model_id, candidates = _hf_candidates(hf_hub)
        for filename in candidates:
            hit = try_to_load_from_cache(repo_id=model_id, filename=filename)
            if isinstance(hit, str) and Path(hit).is_file():
                return Path(hit), "hf-cache"
    url = cfg.get("url", "")
    if url:
        # open_clip's download_pretrained_from_url default cache folder
        target = Path(os.path.expanduser("~/.cache/clip")) / os.path.basename(url)
        if target.is_file():
            return target, "url-cache"
    return None


def resolve_hub_checkpoint(arch: str, tag: str) -> HubCheckpoint:
    """Path of the checkpoint for ``arch:tag``; downloads through open_clip only when the hub is reachable."""
    from open_clip.pretrained import download_pretrained, get_pretrained_cfg, has_hf_hub

    name = f"{arch}:{tag}"
    cfg = dict(get_pretrained_cfg(arch, tag))
    if not cfg:
        raise DfadError(f"backbone {name}: open_clip has no pretrained config for tag {tag!r}")
    cached = find_cached_checkpoint(cfg)
    if cached is not None:
        return HubCheckpoint(path=cached[0], pretrained_cfg=cfg, origin=cached[1])

    uses_hf = bool(cfg.get("hf_hub")) and has_hf_hub()
    if uses_hf:
        model_id, _ = _hf_candidates(cfg["hf_hub"])
        probe_url = f"{_hf_endpoint().rstrip('/')}/api/models/{model_id}"
    else:
        probe_url = cfg.get("url", "")
    if hub_offline() and uses_hf:
        why = "offline: HF_HUB_OFFLINE is set"
    elif not hub_answers(probe_url):
        why = f"offline: {urlparse(probe_url).netloc or probe_url} gave no HTTP answer within {PROBE_TIMEOUT_S:g} s"
    else:
        why = ""
    if why:
        raise DfadError(
            f"backbone {name}: weights are not in the local cache and the hub cannot be reached ({why}); "
            f"download them where you have internet or pass a local file: {arch}:/path/file.safetensors"
        )
    try:
        path = download_pretrained(cfg)
    except (RuntimeError, FileNotFoundError, OSError, ValueError) as exc:
        raise DfadError(f"backbone {name}: downloading the weights failed ({type(exc).__name__}: {exc})") from exc
    if not path or not Path(path).is_file():
        raise DfadError(f"backbone {name}: open_clip returned no weights file for tag {tag!r}")
    return HubCheckpoint(path=Path(path), pretrained_cfg=cfg, origin="downloaded")
