"""Every CUDA source compiles (``nvcc --ptx``) on any machine with a CUDA compiler, GPU or not.

The .cu files include the per-element headers shared with the C++ backend, so this also
checks that those headers stay valid device code.
"""

import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CUDA_DIR = ROOT / "src" / "metricore" / "_backends" / "cuda"
SOURCES = sorted(CUDA_DIR.glob("*.cu"))
NVCC = shutil.which("nvcc")


def test_there_are_cuda_sources():
    assert SOURCES, f"no .cu files under {CUDA_DIR}"


@pytest.mark.skipif(NVCC is None, reason="no CUDA compiler (nvcc) on this machine")
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_cuda_source_compiles_to_ptx(source, tmp_path):
    # The backend's own NVRTC options (nvcc spells them alike): the same defines and headers.
    from metricore._backends.cuda import compile_options

    ptx = tmp_path / (source.stem + ".ptx")
    cmd = [NVCC, "--ptx", "-arch=sm_90", *compile_options(), str(source), "-o", str(ptx)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = ptx.read_text()
    assert text.strip()
    # No float32 flush-to-zero: a subnormal score, label or weight must read as itself, as on
    # the host. (rcp.approx.ftz.f64 inside double division is exact-rounded by its callers.)
    flushed = [l.strip() for l in text.splitlines() if ".ftz" in l and "f32" in l]
    assert not flushed, flushed[:3]
