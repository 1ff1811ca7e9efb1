import pytest
import yaml

from dfad_bench.errors import DfadError
from dfad_bench.manifest import build_manifest
from dfad_bench.protocol import get_protocol, list_protocols, load_protocol_file
from dfad_bench.testing import toy_manifest

SIX = {"closed", "unseen-gan", "unseen-diffusion", "unseen-flow", "unseen-generator", "cross-forgery"}


def test_suite_has_the_six_protocols_with_hashes():
    protos = list_protocols()
    assert SIX <= {p.name for p in protos}
    assert len({p.hash for p in protos}) == len(protos)
    assert get_protocol("unseen-flow").ref == "unseen-flow@1"
    assert get_protocol("unseen-flow@1") == get_protocol("unseen-flow")


def test_unknown_protocol_suggests():
    with pytest.raises(DfadError, match="did you mean unseen-flow"):
        get_protocol("unseen-flwo")


def test_generator_resolution_on_toy_taxonomy(tmp_path):
    tax = build_manifest(toy_manifest(), tmp_path, "toy").taxonomy
    seen, unseen = get_protocol("unseen-flow").resolve_generators(tax)
    assert unseen == {"toy-flow-a", "toy-flow-b"} and not seen & unseen
    seen, unseen = get_protocol("unseen-generator").resolve_generators(tax)
    assert unseen == {"toy-gan-b", "toy-diff-b", "toy-flow-b"}
    seen, unseen = get_protocol("cross-forgery").resolve_generators(tax)
    assert unseen == {"toy-swap", "toy-edit"} and all(tax[g].forgery_type == "efs" for g in seen)
    seen, unseen = get_protocol("closed").resolve_generators(tax)
    assert not unseen and len(seen) == 8


def test_hash_ignores_formatting_but_not_meaning(tmp_path):
    src = yaml.safe_load(open(get_protocol("unseen-gan").path))
    a = tmp_path / "unseen-gan.v1.yaml"
    a.write_text(yaml.safe_dump(src, default_flow_style=True))
    assert load_protocol_file(a).hash == get_protocol("unseen-gan").hash
    src["unseen"]["families"] = ["flow"]
    a.write_text(yaml.safe_dump(src))
    assert load_protocol_file(a).hash != get_protocol("unseen-gan").hash


@pytest.mark.parametrize(
    "patch, match",
    [
        ({"seen": {"famlies": ["gan"]}}, "unknown key 'famlies'"),
        ({"version": "one"}, "'version' must be a positive integer"),
        ({"split": {"fractions": {"train": 0.5, "val": 0.1, "test": 0.1}}}, "sum to 1"),
        ({"metrics": ["accuracy"]}, "unknown metric group"),
        ({"colour": "blue"}, "unknown key 'colour'"),
    ],
)
def test_malformed_protocols_fail_naming_the_field(tmp_path, patch, match):
    raw = yaml.safe_load(open(get_protocol("closed").path))
    raw.update(patch)
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(DfadError, match=match) as info:
        load_protocol_file(path)
    assert "\n" not in str(info.value)


def test_invalid_yaml(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("name: [unclosed")
    with pytest.raises(DfadError, match="invalid YAML"):
        load_protocol_file(path)
