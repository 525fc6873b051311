"""The README's serve example, as written, on the default model (SmolLM2): the real CLI, the real client.

``llm-audit keys add`` and ``llm-audit serve`` run as processes, the README's Python block runs
unchanged except for the port (a free one instead of 8000, which may be taken); the record it
names exists, verifies and replays ``identical``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from audit import Auditor
from audit.web.background import free_port

ROOT = Path(__file__).resolve().parents[2]


def readme_blocks() -> tuple[str, str]:
    """The shell and Python blocks of the README's serve section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Serve the OpenAI API", 1)[1].split("\n## ", 1)[0]
    shell = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    python = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    return shell, python


@pytest.mark.integration
def test_the_readme_serve_example_works_as_written(tmp_path, capsys, default_loaded):
    shell, python = readme_blocks()
    assert "llm-audit keys add my-app" in shell and "llm-audit serve &" in shell
    env = {**os.environ, "LLM_AUDIT_DB": str(tmp_path / "llm-audit.db")}
    command = [sys.executable, "-m", "audit"]
    key = subprocess.run([*command, "keys", "add", "my-app"], capture_output=True, text=True, env=env, timeout=120)
    assert key.returncode == 0, key.stderr
    env["LLM_AUDIT_API_KEY"] = key.stdout.strip()
    port = free_port()
    server = subprocess.Popen([*command, "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while True:
            assert server.poll() is None, server.stderr.read()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.5)
        os.environ["LLM_AUDIT_API_KEY"] = env["LLM_AUDIT_API_KEY"]
        try:
            exec(compile(python.replace(":8000/", f":{port}/"), "README.md", "exec"), {})
        finally:
            del os.environ["LLM_AUDIT_API_KEY"]
        printed = capsys.readouterr().out.split()
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    record_id = printed[-1]
    auditor = Auditor(db=tmp_path / "llm-audit.db", model=default_loaded)
    record = auditor.get(record_id)
    assert record.operator == "my-app" and record.model.name == "smollm2-135m-instruct"
    assert " ".join(printed[:-1]) == " ".join(record.output_text.split())
    assert auditor.verify().ok
    assert auditor.replay(record_id).verdict == "identical"
