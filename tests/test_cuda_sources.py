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
    cmd = [NVCC, "--ptx", "-std=c++17", "-arch=sm_90", "-I", str(ROOT / "csrc" / "include"),
           str(source), "-o", str(tmp_path / (source.stem + ".ptx"))]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / (source.stem + ".ptx")).stat().st_size > 0
