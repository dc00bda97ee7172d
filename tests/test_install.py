"""Packaging: a wheel of qa installs and answers in a fresh virtual environment, with no
checkout in sight (issue #34's lean install).

The fresh environment gets its dependencies from this test run's own environment through a
``.pth`` line (installing torch and the rest again from the registry would take minutes and
the network); that environment's editable install of qa is not seen, because a ``.pth`` file
inside a folder named by another ``.pth`` line is never run. So ``import qa`` can only find
the wheel's copy, which the test checks.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import venv

from .conftest import ROOT, SEEDS

ASK = """
import json, sys
import qa
from qa import Assistant
assistant = Assistant.from_folder(sys.argv[1])
answer = assistant.ask("Where was the road transport agreement signed?")
print(json.dumps({
    "qa": qa.__file__,
    "text": answer.extracts[0].text,
    "reader": answer.answerability is not None,
    "notice": answer.notice,
}))
"""


def test_a_wheel_installs_and_answers_without_the_checkout(tmp_path):
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
         "--quiet", "-w", str(wheels)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("qa-*.whl")
    env = tmp_path / "venv"
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    ours = sysconfig.get_paths()["purelib"]  # this run's environment: the dependencies
    (tmp_path / "venv" / site.split(str(env) + "/", 1)[1] / "deps.pth").write_text(ours + "\n")
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "--quiet", str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    away = tmp_path / "elsewhere"  # no seeds/, no qa/ folder to import by accident
    shutil.copytree(SEEDS, away / "docs", ignore=shutil.ignore_patterns(".qa-index"))
    asked = subprocess.run(
        [str(python), "-c", ASK, str(away / "docs")],
        capture_output=True, text=True, cwd=away, timeout=600,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    result = json.loads(asked.stdout.strip().splitlines()[-1])
    assert result["qa"].startswith(str(env))  # the wheel's qa, not the checkout's
    assert "Dushanbe" in result["text"]
    assert result["reader"] and result["notice"] is None  # the reader model came with it
    css = subprocess.run(
        [str(python), "-c", "import qa.web.layout as l; print(l.CSS[:40])"],
        capture_output=True, text=True, cwd=away, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert css.returncode == 0 and css.stdout.strip(), css.stderr  # the web assets too
