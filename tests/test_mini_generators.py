"""DFAD-Mini generator zoo: architectures, samplers, training checkpoint/resume, weight files."""

from __future__ import annotations

import dataclasses
import json
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from dfad_bench.errors import DfadError  # noqa: E402
from dfad_bench.taxonomy import FAMILIES, FORGERY_TYPES  # noqa: E402
from dfad_mini.generators import (  # noqa: E402
    MINI_GENERATORS,
    get_mini_spec,
    load_mini_generator,
    trainable_generators,
)
from dfad_mini.generators.latent import is_latent  # noqa: E402
from dfad_mini.generators.weightfile import save_weights  # noqa: E402
from dfad_mini.train import (  # noqa: E402
    create_trainer,
    export_weights,
    install_bundle,
    load_checkpoint,
    main,
    render_training_images,
    train_generator,
)

torch.set_num_threads(1)
EFS = ["mini-dcgan", "mini-resgan", "mini-ddpm", "mini-ldm", "mini-fm-unet", "mini-fm-dit"]
MAX_PARAMS = 2_400_000  # fp16 weights of at most ~4.8 MB per generator (latent ones include their autoencoder)


def _cheap(name: str):
    """The real architecture with a cheaper GAN BatchNorm recalibration (export cost only)."""
    spec = get_mini_spec(name)
    cfg = dataclasses.replace(spec.train_config, extra={**spec.train_config.extra, "bn_calib_batches": 1, "bn_calib_batch": 8})
    return dataclasses.replace(spec, train_config=cfg)


def _export_random(name: str, tmp_path: Path) -> Path:
    """Weights of a freshly initialised trainer, written as the exporter writes them."""
    torch.manual_seed(0)
    trainer = create_trainer(_cheap(name), "cpu", amp=False)
    if is_latent(get_mini_spec(name).arch_config):
        trainer.prepare(torch.zeros(2, 64, 64, 3, dtype=torch.uint8) + 128)
    tensors, config = trainer.export()
    return save_weights(tmp_path / get_mini_spec(name).weights_file, tensors, config, {"name": name})


@pytest.fixture(scope="module")
def tiny_images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(16, 64, 64, 3), dtype=np.uint8)


def test_taxonomy_entries_are_consistent():
    assert trainable_generators() == EFS
    for name, spec in MINI_GENERATORS.items():
        assert spec.name == name and spec.family in FAMILIES and spec.forgery_type in FORGERY_TYPES
        assert spec.description
        if spec.manipulation:
            assert spec.weights_file is None and spec.forgery_type in ("fs", "am")
            assert spec.base_generator in EFS
        else:
            assert spec.forgery_type == "efs" and spec.weights_file == f"{name}.safetensors"
    assert {n: MINI_GENERATORS[n].family for n in MINI_GENERATORS} == {
        "mini-dcgan": "gan", "mini-resgan": "gan", "mini-ddpm": "diffusion", "mini-ldm": "diffusion",
        "mini-fm-unet": "flow", "mini-fm-dit": "flow", "mini-swap": "gan", "mini-eyeedit": "diffusion",
    }
    assert MINI_GENERATORS["mini-swap"].base_generator == "mini-resgan"
    assert MINI_GENERATORS["mini-eyeedit"].base_generator == "mini-ddpm"


def test_unknown_name_suggests_close_match():
    with pytest.raises(DfadError, match="mini-ddpm"):
        get_mini_spec("mini-ddmp")


@pytest.mark.parametrize("name", EFS)
def test_forward_shapes_budget_and_deterministic_sampling(name, tmp_path):
    path = _export_random(name, tmp_path)
    with safe_open(str(path), framework="pt") as f:
        n_params = sum(int(np.prod(f.get_slice(k).get_shape())) for k in f.keys()
                       if f.get_slice(k).get_dtype() == "F16")
    assert 100_000 < n_params <= MAX_PARAMS, n_params
    assert path.stat().st_size <= 2 * MAX_PARAMS + 200_000

    gen = load_mini_generator(name, weights_dir=tmp_path)
    if hasattr(gen, "steps"):
        assert gen.steps == get_mini_spec(name).sampler_config["steps"]
        gen.steps = 2  # the solver's step count does not change what is tested here
    a = gen.sample(3, seed=7, batch_size=2)
    assert a.shape == (3, 64, 64, 3) and a.dtype == np.uint8
    b = gen.sample(3, seed=7, batch_size=3)
    # per-image noise streams: the batch size changes float rounding at most
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 2
    assert np.array_equal(gen.sample(2, seed=7, batch_size=2), a[:2])
    c = gen.sample(2, seed=8, batch_size=2)
    assert not np.array_equal(c, a[:2])


def test_training_networks_map_batches_to_the_right_shapes():
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    t = torch.rand(2)
    for name in ("mini-ldm", "mini-ddpm", "mini-fm-unet", "mini-fm-dit"):  # latent models since mini-v2
        tr = create_trainer(get_mini_spec(name), "cpu", amp=False)
        z = tr.ae.encode(x)
        assert z.shape == (2, 4, 16, 16) and tr.ae.decode(z).shape == x.shape
        assert tr.net(z, t).shape == z.shape
    for name in ("mini-dcgan", "mini-resgan"):
        tr = create_trainer(get_mini_spec(name), "cpu", amp=False)
        fake = tr.g(torch.randn(2, tr.z_dim))
        assert fake.shape == x.shape and tr.d(fake).shape == (2,)


def _state_tensors(obj, prefix=""):
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _state_tensors(v, f"{prefix}.{k}")
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            yield from _state_tensors(v, f"{prefix}[{i}]")


@pytest.mark.parametrize("name", ["mini-dcgan", "mini-ddpm"])
def test_resume_equals_uninterrupted_training(name, tmp_path, tiny_images):
    kw = dict(device="cpu", batch_size=4, seed=3, images=tiny_images, log_every=1, ckpt_every=100, log=lambda m: None)
    # 4 and 3 steps give a latent model's autoencoder stage the same 2 steps (ae_steps_ratio 0.5)
    straight = train_generator(name, steps=4, out_dir=tmp_path / "a", **kw)
    first = train_generator(name, steps=3, out_dir=tmp_path / "b", **kw)
    assert first.steps == 3 and load_checkpoint(first.checkpoint)["step"] == 3
    resumed = train_generator(name, steps=4, out_dir=tmp_path / "b", **kw)
    assert straight.steps == resumed.steps == 4
    sa, sb = load_checkpoint(straight.checkpoint), load_checkpoint(resumed.checkpoint)
    ta, tb = dict(_state_tensors(sa["trainer"])), dict(_state_tensors(sb["trainer"]))
    assert ta.keys() == tb.keys() and len(ta) > 10
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k
    assert torch.equal(sa["gen_state"], sb["gen_state"])
    assert [p["step"] for p in sb["curve"]] == [1.0, 2.0, 3.0, 4.0]
    # and training moved the weights away from the initialisation
    torch.manual_seed(0)
    init = dict(_state_tensors(create_trainer(get_mini_spec(name), "cpu", amp=False).state_dict()))
    moved = [k for k in init if (k.startswith(".g.") or k.startswith(".net.")) and init[k].is_floating_point()
             and not torch.equal(init[k], ta[k])]
    assert len(moved) > 5


def test_bf16_autocast_path_runs_and_time_budget_stops(tmp_path, tiny_images):
    res = train_generator("mini-fm-unet", device="cpu", steps=1000, batch_size=2, images=tiny_images[:4],
                          out_dir=tmp_path, amp=True, time_budget_s=0.0, log=lambda m: None)
    assert res.stopped_by == "time" and res.steps == 1
    assert json.loads(load_checkpoint(res.checkpoint)["meta"])["amp_bf16"] is True


def test_ldm_export_round_trip_fp16(tmp_path, tiny_images):
    res = train_generator("mini-ldm", device="cpu", steps=2, batch_size=4, images=tiny_images, out_dir=tmp_path,
                          log_every=1, log=lambda m: None)
    assert [c.name for c in res.components] == ["mini-ldm:autoencoder"] and res.components[0].steps == 1
    path = export_weights("mini-ldm", res.checkpoint, tmp_path / "w", command="pytest")
    side = json.loads(path.with_suffix(".json").read_text())
    assert side["steps"] == 2 and side["command"] == "pytest" and side["torch_version"] == torch.__version__
    assert len(side["loss_curve"]) == 2 and side["components"]["autoencoder"]["steps"] == 1
    state = load_checkpoint(res.checkpoint)["trainer"]
    with safe_open(str(path), framework="pt") as f:
        keys = list(f.keys())
        assert all(f.get_tensor(k).dtype == torch.float16 for k in keys if "num_batches" not in k)
        w = f.get_tensor("net.stem.weight")
    assert torch.equal(w, state["ema"]["model"]["stem.weight"].half())
    gen = load_mini_generator("mini-ldm", weights_dir=tmp_path / "w")
    assert gen.net.stem.weight.dtype == torch.float32 and torch.equal(gen.net.stem.weight, w.float())
    assert gen.metadata["steps"] == 2
    gen.steps = 3
    assert gen.sample(2, seed=0).shape == (2, 64, 64, 3)


def test_sdedit_is_deterministic_and_strength_controls_change(tmp_path, tiny_images):
    _export_random("mini-ddpm", tmp_path)
    gen = load_mini_generator("mini-ddpm", weights_dir=tmp_path)
    gen.steps = 10
    imgs = tiny_images[:2]
    weak = gen.sdedit(imgs, strength=0.05, seed=1)
    assert weak.shape == imgs.shape and weak.dtype == np.uint8
    assert np.array_equal(weak, gen.sdedit(imgs, strength=0.05, seed=1))
    strong = gen.sdedit(imgs, strength=0.9, seed=1)
    d_weak = np.abs(weak.astype(int) - imgs).mean()
    d_strong = np.abs(strong.astype(int) - imgs).mean()
    assert d_weak < d_strong
    with pytest.raises(ValueError):
        gen.sdedit(imgs, strength=0.0, seed=1)


def test_resuming_a_latent_model_keeps_its_autoencoder_frozen(tmp_path, tiny_images):
    """More steps (or a new time budget) after the denoiser has started must not retrain the
    autoencoder under it: the denoiser would go on with latents it never saw."""
    kw = dict(device="cpu", batch_size=4, images=tiny_images, out_dir=tmp_path, log=lambda m: None)
    first = train_generator("mini-ddpm", steps=4, **kw)
    again = train_generator("mini-ddpm", steps=10, **kw)  # would give the autoencoder 5 steps
    assert first.components[0].steps == 2 and again.components[0].steps == 2 and again.steps == 10
    ae_ckpt = load_checkpoint(tmp_path / "ckpt" / "mini-ddpm" / "autoencoder.pt")
    assert ae_ckpt["step"] == 2
    ae_in_denoiser = load_checkpoint(again.checkpoint)["trainer"]["ae"]
    assert all(torch.equal(ae_ckpt["trainer"]["ae"][k], v) for k, v in ae_in_denoiser.items())


def test_flow_models_share_one_autoencoder_and_only_ddpm_ships_an_encoder(tmp_path, tiny_images):
    kw = dict(device="cpu", steps=2, batch_size=4, images=tiny_images, out_dir=tmp_path, log=lambda m: None)
    with pytest.raises(DfadError, match="train mini-fm-unet first"):
        train_generator("mini-fm-dit", **kw)
    unet = train_generator("mini-fm-unet", **kw)
    dit = train_generator("mini-fm-dit", **kw)
    assert [c.name for c in unet.components] == ["mini-fm-unet:autoencoder"] and dit.components == ()
    ae_unet = load_checkpoint(unet.checkpoint)["trainer"]["ae"]
    ae_dit = load_checkpoint(dit.checkpoint)["trainer"]["ae"]
    assert all(torch.equal(ae_unet[k], ae_dit[k]) for k in ae_unet)
    path = export_weights("mini-fm-dit", dit.checkpoint, tmp_path / "w")
    assert json.loads(path.with_suffix(".json").read_text())["components"]["autoencoder"] == {"from": "mini-fm-unet"}
    with safe_open(str(path), framework="pt") as f:
        assert any(k.startswith("decoder.") for k in f.keys()) and not any(k.startswith("encoder.") for k in f.keys())
    ddpm = _export_random("mini-ddpm", tmp_path / "d")
    with safe_open(str(ddpm), framework="pt") as f:
        assert any(k.startswith("encoder.") for k in f.keys())
    assert load_mini_generator("mini-fm-dit", weights_dir=tmp_path / "w").sample(1, seed=0).shape == (1, 64, 64, 3)


def test_missing_weights_name_the_file_and_the_command(tmp_path):
    with pytest.raises(DfadError) as err:
        load_mini_generator("mini-fm-dit", weights_dir=tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "mini-fm-dit.safetensors") in msg
    assert "python -m dfad_mini.train --only mini-fm-dit" in msg
    with pytest.raises(DfadError, match="mini-resgan"):
        load_mini_generator("mini-swap", weights_dir=tmp_path)


def test_parallel_rendering_matches_the_renderer():
    from dfad_mini.renderer import render_training_set

    assert np.array_equal(render_training_images(10, 1000, workers=2, ids_per_task=1),
                          render_training_set(10, 1000).images)


def test_cli_trains_exports_bundles_and_installs(tmp_path):
    out = tmp_path / "out"
    rc = main(["--only", "mini-dcgan", "--steps", "2", "--batch-size", "4", "--n-train", "8", "--workers", "1",
               "--grid-samples", "4", "--out", str(out), "--bundle", str(tmp_path / "bundle"), "--log-every", "1"])
    assert rc == 0
    side = json.loads((out / "weights" / "mini-dcgan.json").read_text())
    assert side["command"].startswith("python -m dfad_mini.train --only mini-dcgan")
    assert side["training_data"]["n"] == 8 and side["steps"] == 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["generators"]["mini-dcgan"]["steps"] == 2
    tars = sorted((tmp_path / "bundle").glob("mini_zoo_*.tar"))
    assert tars
    with tarfile.open(tars[0]) as tar:
        assert "weights/mini-dcgan.safetensors" in tar.getnames()
    installed = install_bundle(tmp_path / "bundle", tmp_path / "installed", tmp_path / "img")
    assert (tmp_path / "installed" / "mini-dcgan.safetensors").is_file() and installed
    assert (tmp_path / "img" / "mini-dcgan.png").is_file()
    g = load_mini_generator("mini-dcgan", weights_dir=tmp_path / "installed")
    assert g.sample(1, seed=0).shape == (1, 64, 64, 3)


class _GaussianOracle(torch.nn.Module):
    """The exact v (diffusion) or velocity (flow) for data ~ N(mu, sd^2) per pixel."""

    def __init__(self, mu: float, sd: float, flow: bool) -> None:
        super().__init__()
        self.mu, self.sd, self.flow = mu, sd, flow

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        tb = t.view(-1, 1, 1, 1).double()
        x = x.double()
        if self.flow:  # x_t = (1 - t) x0 + t eps
            a, s = 1 - tb, tb
        else:  # x_t = cos x0 + sin eps
            a, s = torch.cos(0.5 * np.pi * tb), torch.sin(0.5 * np.pi * tb)
        x0 = self.mu + a * self.sd**2 / (a**2 * self.sd**2 + s**2) * (x - a * self.mu)
        eps = (x - a * x0) / s
        return (eps - x0 if self.flow else a * eps - s * x0).float()


@pytest.mark.parametrize("name", ["mini-ddpm", "mini-ldm", "mini-fm-unet", "mini-fm-dit"])
def test_samplers_with_the_exact_denoiser_reproduce_gaussian_data(name, tmp_path):
    """Checks the sampler maths (schedules, posterior, solvers) independently of training."""
    _export_random(name, tmp_path)
    gen = load_mini_generator(name, weights_dir=tmp_path)
    flow = name.startswith("mini-fm")
    mu, sd = 0.3, 0.2
    gen.net, gen.sigma_data = _GaussianOracle(mu, sd, flow), None  # the oracle gives v itself
    # the maths at the recipe's step counts (the spec's counts may be tuned for speed)
    gen.steps, gen.time_power = {"mini-ddpm": 25, "mini-ldm": 20, "mini-fm-unet": 12, "mini-fm-dit": 8}[name], 2.0
    # latent models: sample the 3x64x64 "latents" directly (no decoder); the solver maths is the same
    gen.codec, gen.sample_shape = None, (3, 64, 64)
    x = gen._sample_batch(image_generators_for_test(2))
    assert abs(x.mean().item() - mu) < 0.01
    assert 0.82 * sd < x.std().item() < 1.05 * sd
    # the spacing towards t = 0 is what keeps low-variance detail with few steps
    gen.net = _GaussianOracle(mu, 0.05, flow)
    std_spaced = gen._sample_batch(image_generators_for_test(2)).std().item()
    gen.time_power = 1.0
    std_uniform = gen._sample_batch(image_generators_for_test(2)).std().item()
    assert std_uniform < std_spaced


def image_generators_for_test(n: int):
    from dfad_mini.generators.common import image_generators

    return image_generators(0, 0, n)


def test_keep_going_trains_the_others_and_reports_the_failure(tmp_path, tiny_images, monkeypatch):
    import dfad_mini.zoo.run as train_mod

    real = train_mod.train_generator

    def flaky(name, **kw):
        if name == "mini-dcgan":
            raise RuntimeError("simulated CUDA failure")
        return real(name, **kw)

    monkeypatch.setattr(train_mod, "train_generator", flaky)
    with pytest.raises(DfadError, match="mini-dcgan: RuntimeError: simulated CUDA failure"):
        train_mod.train_all(["mini-dcgan", "mini-fm-unet"], steps=1, batch_size=2, out_dir=tmp_path, images=tiny_images,
                            grid_samples=2, keep_going=True, log=lambda m: None)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert "error" in summary["generators"]["mini-dcgan"]
    assert summary["generators"]["mini-fm-unet"]["steps"] == 1
    assert (tmp_path / "weights" / "mini-fm-unet.safetensors").is_file()


@pytest.mark.parametrize("path", ["cosine", "linear"])
def test_preconditioning_is_the_linear_estimate_of_v_and_its_residual_std(path):
    from dfad_mini.generators.denoising import precondition

    g = torch.Generator().manual_seed(0)
    sd = 0.5
    for t_val in (0.05, 0.5, 0.95):
        x0 = sd * torch.randn(200_000, generator=g, dtype=torch.float64)
        eps = torch.randn(200_000, generator=g, dtype=torch.float64)
        if path == "cosine":
            a, s = np.cos(0.5 * np.pi * t_val), np.sin(0.5 * np.pi * t_val)
            x_t, v = a * x0 + s * eps, a * eps - s * x0
        else:
            x_t, v = (1 - t_val) * x0 + t_val * eps, eps - x0
        c_in, c_skip, c_out = (c.item() for c in precondition(path, torch.tensor([t_val]), sd))
        slope = (x_t * v).mean() / (x_t * x_t).mean()
        assert abs(slope.item() - c_skip) < 0.01
        assert abs((v - c_skip * x_t).std().item() - c_out) < 0.01
        assert abs((c_in * x_t).std().item() - 1.0) < 0.01


def test_cli_without_sample_grids(tmp_path):
    out = tmp_path / "out"
    rc = main(["--only", "mini-dcgan", "--steps", "1", "--batch-size", "4", "--n-train", "8", "--workers", "1",
               "--grid-samples", "0", "--out", str(out)])
    assert rc == 0 and (out / "weights" / "mini-dcgan.safetensors").is_file()
    assert not [p for p in out.rglob("*.png") if p.name != "loss_curves.png"]
    assert json.loads((out / "summary.json").read_text())["generators"]["mini-dcgan"]["sample_seconds_per_image"] is None
    with pytest.raises(SystemExit):
        main(["--only", "mini-dcgan", "--grid-samples", "-1", "--out", str(out)])
