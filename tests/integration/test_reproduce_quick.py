"""`benchmarks/reproduce.py --quick`: the whole study pipeline completes and writes its tables."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_quick_study_produces_the_document(tmp_path, shared_dir):
    out = tmp_path / "results.md"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "reproduce.py"), "--quick", "--shared",
         str(shared_dir), "--workdir", str(tmp_path / "work"), "--out", str(out)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.splitlines()[-1])["results"] == str(out)
    doc = out.read_text()
    assert "## Single-trajectory protocol" in doc and "### t4l_seed0" in doc
    assert "## Multi-trajectory protocol" in doc and "## Speed" in doc
    header = "| method | MAE (Å) | RMSE (Å) | Matching (Å) | Stability (%) |"
    assert header in doc
    rows = [line for line in doc.splitlines() if line.startswith("| ")]
    methods = {line.split("|")[1].strip() for line in rows}
    assert {"neuralmd-ode", "neuralmd-sde", "gnn-md", "denoising-ld", "verlet-md", "static",
            "mean-pose"} <= methods  # fmt: skip
    assert (tmp_path / "figures" / "rmsf_t4l_seed0.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
