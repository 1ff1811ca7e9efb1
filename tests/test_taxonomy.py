import pytest

from dfad_bench.errors import DfadError
from dfad_bench.taxonomy import CATALOGUE, build_taxonomy


def test_catalogue_covers_the_field():
    required = ["progan", "stylegan", "stylegan2", "stylegan3", "stargan", "faceswap", "ddpm", "ddim", "ldm",
                "sd1.5", "sd2.1", "sdxl", "diffface", "diffae", "collaborative-diffusion", "sd3", "sd3.5",
                "flux1-dev", "sit"]
    for name in required:
        assert name in CATALOGUE, name
    assert {g.family for g in CATALOGUE.values()} >= {"real", "gan", "diffusion", "flow"}
    assert all(g.description for g in CATALOGUE.values())


def test_manifest_generators_extend_the_catalogue():
    tax = build_taxonomy([("my-nerf", "nerf", "efs"), ("stylegan2", "gan", "efs"), ("real", "real", "real")])
    assert tax.family_of("my-nerf") == "nerf"
    assert tax["stylegan2"].description == CATALOGUE["stylegan2"].description


@pytest.mark.parametrize(
    "rows, match",
    [
        ([("x", "gan", "efs"), ("x", "diffusion", "efs")], "two taxonomies"),
        ([("x", "gan", "weird")], "forgery_type"),
        ([("x", "Bad Family", "efs")], "family"),
        ([("stylegan2", "diffusion", "efs")], "catalogue says"),
        ([("x", "real", "efs")], "real"),
    ],
)
def test_bad_taxonomy_rows(rows, match):
    with pytest.raises(DfadError, match=match):
        build_taxonomy(rows)
