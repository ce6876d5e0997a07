"""A cold start pays only for what it uses: ``import llmcore`` and a first ``Client``.

Each check runs in a fresh interpreter and reads ``sys.modules``: ``import llmcore`` imports no
dependency a client does not need (cattrs, tenacity, the HTTP stack, any plugin), every public
name still resolves on first use, and ``Client("openai")`` imports the OpenAI plugin only, with
all five plugins of this repository installed.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys

import llmcore

PLUGINS = ("openai", "anthropic", "gemini", "ollama", "zhipu")


def run(code: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter; it prints one JSON object, returned here."""
    env = {k: v for k, v in os.environ.items() if k != "LLMCORE_LOAD_PLUGINS"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_import_llmcore_imports_nothing_heavy() -> None:
    found = run("import sys, json, llmcore\nprint(json.dumps({'modules': sorted(sys.modules)}))\n")
    modules = set(found["modules"])  # type: ignore[call-overload]
    heavy = {
        "cattrs",
        "tenacity",
        "jsonschema",
        "requests",
        "urllib3",
        "pluggy",
        "llmcore.client",
        "llmcore.plugins",
        "llmcore.agent",
        "llmcore.batch",
        "llmcore.batching",
        "llmcore.context",
        "llmcore.conformance",
        "llmcore.events",
        "llmcore.serde",
        "llmcore.tools",
        "llmcore.tool_schema",
    } | {f"llmcore_{name}" for name in PLUGINS}
    assert not modules & heavy, f"imported by `import llmcore`: {sorted(modules & heavy)}"
    assert {"llmcore.errors", "llmcore._logsafety"} <= modules  # log redaction is on at once


def test_every_public_name_resolves_on_first_use() -> None:
    found = run(
        "import importlib, json, llmcore\n"
        "listed = set(dir(llmcore))\n"
        "wrong = []\n"
        "for name in llmcore.__all__:\n"
        "    namespace = {}\n"
        "    exec(f'from llmcore import {name}', namespace)\n"
        "    if name == '__version__':\n"
        "        continue\n"
        "    home = importlib.import_module(llmcore._LAZY[name])\n"
        "    if namespace[name] is not getattr(home, name) or getattr(llmcore, name) "
        "is not namespace[name]:\n"
        "        wrong.append(name)\n"
        "try:\n"
        "    llmcore.NoSuchName\n"
        "    missing = None\n"
        "except AttributeError as exc:\n"
        "    missing = str(exc)\n"
        "print(json.dumps({'wrong': wrong, 'unlisted': sorted(set(llmcore.__all__) - listed),"
        " 'missing': missing}))\n"
    )
    assert found["wrong"] == []
    assert found["unlisted"] == [], "dir(llmcore) must list every public name before use"
    assert found["missing"] == "module 'llmcore' has no attribute 'NoSuchName'"
    assert set(llmcore._LAZY) == set(llmcore.__all__) - {"__version__"}


def test_a_client_for_openai_imports_only_the_openai_plugin() -> None:
    installed = {d.metadata["Name"] for d in importlib.metadata.distributions()}
    assert {f"llmcore-{name}" for name in PLUGINS} <= installed, "the five plugins are installed"
    found = run(
        "import sys, json, llmcore\n"
        "client = llmcore.Client('openai', api_key='sk-test')\n"
        "print(json.dumps({'provider': client.provider.name, 'modules': sorted(sys.modules)}))\n"
    )
    assert found["provider"] == "openai"
    modules = set(found["modules"])  # type: ignore[call-overload]
    plugins = {m.split(".")[0] for m in modules if m.startswith("llmcore_")}
    assert plugins == {"llmcore_openai"}
    unneeded = {
        "cattrs",
        "tenacity",  # needed only once an attempt has failed
        "concurrent.futures",  # batches
        "llmcore.agent",
        "llmcore.batch",
        "llmcore.batching",
        "llmcore.context",
        "llmcore.events",  # built only by streams
        "llmcore.serde",
    }
    assert not modules & unneeded, f"imported for a client: {sorted(modules & unneeded)}"


def test_lazily_imported_modules_load_when_first_needed() -> None:
    """tenacity loads with the first retry, not before; calls and streams work on."""
    found = run(
        "import sys, json, llmcore\n"
        "from llmcore import ChatCompletionRequest, ConnectionOptions, Message\n"
        "from llmcore.testing import FauxError, register_faux_provider\n"
        "seen = {}\n"
        "faux = register_faux_provider()\n"
        "faux.add_replies(FauxError(503), 'ok', 'streamed')\n"
        "options = ConnectionOptions(backoff_initial=0, backoff_max=0)\n"
        "client = llmcore.Client('faux', options=options)\n"
        "req = ChatCompletionRequest('faux-1', [Message.user('hi')])\n"
        "seen['before'] = 'tenacity' in sys.modules\n"
        "assert client.chat_completion(req).text() == 'ok'\n"
        "seen['retried'] = 'tenacity' in sys.modules\n"
        "assert client.chat_completion_stream(req).until_done().text() == 'streamed'\n"
        "seen['streamed'] = 'llmcore.events' in sys.modules\n"
        "print(json.dumps(seen))\n"
    )
    assert found == {"before": False, "retried": True, "streamed": True}


def test_listing_providers_still_loads_every_plugin() -> None:
    found = run(
        "import sys, json, llmcore\n"
        "names = llmcore.supported_providers()\n"
        "print(json.dumps({'names': names, 'modules': sorted(sys.modules)}))\n"
    )
    assert {"openai", "anthropic", "gemini", "ollama", "zhipu"} <= set(found["names"])  # type: ignore[call-overload]
    modules = set(found["modules"])  # type: ignore[call-overload]
    assert {f"llmcore_{name}" for name in PLUGINS} <= modules
