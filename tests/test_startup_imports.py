"""Start-up costs only what the command uses: modules a command loads, read from the child process's sys.modules."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from llmserver import LLMServer
from test_llm_judges import ENV, KEY, configure

SDKS = ("openai", "anthropic", "google.genai")
HEAVY = (*SDKS, "sqlalchemy", "numpy", "scipy", "pandas", "tantivy", "jinja2", "aiohttp", "httpx2", "httpx", "ir_measures")
# The CLI's own entry point (the console script's), then the loaded modules as JSON on the last line of stderr.
# The probe prints from an exit handler: main ends the process with os._exit after running them (cli.main.leave).
PROBE = ("import atexit, json, sys\nfrom evalharness.cli.main import main\nsys.argv = ['evalharness', *sys.argv[1:]]\n"
         "atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))\nmain()\n")


def loaded(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run the CLI with these arguments in a child; its result and the modules it had loaded at exit."""
    full_env = {**os.environ, **(env or {}), "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=full_env, timeout=300)
    return result, set(json.loads(result.stderr.strip().splitlines()[-1]))


def among(modules: set[str], names: tuple[str, ...]) -> set[str]:
    return {n for n in names if n in modules}


@pytest.mark.parametrize("provider", ["openai", "gemini", "anthropic"])
def test_cached_run_loads_no_llm_sdk(project: Path, provider: str) -> None:
    server = LLMServer(api_key=KEY)
    try:
        configure(project, server, provider, queries=4)
        args = ("-C", str(project), "run", "-e", "v2", "--top-k", "3", "--judge", f"{provider}:cache-model", "--json")
        first, modules = loaded(*args, env=ENV)
        assert first.returncode == 0, first.stderr[-2000:]
        assert json.loads(first.stdout)["counts"]["judged_new"] > 0
        assert among(modules, SDKS), "the run that judged must have loaded its SDK (else this test proves nothing)"
        sent = server.total_requests
        again, modules = loaded(*args, env=ENV)
        assert again.returncode == 0, again.stderr[-2000:]
        counts = json.loads(again.stdout)["counts"]
        assert counts["judged_new"] == 0 and counts["judged_cached"] == counts["hits"] > 0
        assert server.total_requests == sent
        assert among(modules, SDKS) == set()
        assert "evalharness.runtime.httpclient" not in modules
    finally:
        server.close()


def test_cached_run_still_needs_the_key(project: Path) -> None:
    """The key is checked before any work even though the SDK is not loaded."""
    server = LLMServer(api_key=KEY)
    try:
        configure(project, server, "openai", queries=2)
        result, modules = loaded("-C", str(project), "run", "-e", "v2", "--judge", "openai:m", "--json",
                                 env={"EH_LLM_KEY": ""})
        assert result.returncode == 2 and "EH_LLM_KEY" in result.stderr and "Traceback" not in result.stderr
        assert server.total_requests == 0 and among(modules, SDKS) == set()
    finally:
        server.close()


def test_version_and_help_load_no_heavy_module() -> None:
    version, modules = loaded("--version")
    assert version.returncode == 0 and version.stdout.strip().startswith("evalharness ")
    assert among(modules, HEAVY) == set() and "pydantic" not in modules and "evalharness.config" not in modules
    helped, modules = loaded("--help")
    assert helped.returncode == 0 and "run" in helped.stdout
    assert among(modules, HEAVY) == set()
