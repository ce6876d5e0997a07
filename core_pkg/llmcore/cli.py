"""The ``llmcore`` command line (also ``python -m llmcore``): chat, models, providers, batch.

Built on Click, imported only when the command runs (``import llmcore`` does not import it).
Every error ends the command with one line on stderr and a non-zero exit status, never a
traceback: an :class:`~llmcore.LlmError` prints its (redacted) message and exits 1, a usage error
exits 2, Ctrl-C exits 130.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from llmcore.batch import BatchProgress, run_file
from llmcore.chat import ChatCompletionRequest
from llmcore.client import Client, get_env_api_key
from llmcore.errors import LlmError, redact
from llmcore.messages import Message
from llmcore.plugins import get_plugins

__all__ = ["cli", "main"]

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_PROVIDER_ENV = "LLMCORE_PROVIDER"
"""The environment variable read for ``--provider`` when it is not given."""


def _provider_option(required: bool = True) -> Callable[[F], F]:
    return click.option(
        "--provider",
        "-p",
        envvar=DEFAULT_PROVIDER_ENV,
        required=required,
        help=f"A registered provider name (see `llmcore providers`); env {DEFAULT_PROVIDER_ENV}.",
    )


def _base_url_option(fn: F) -> F:
    return click.option("--base-url", default=None, help="Replaces the provider's base URL.")(fn)


def _client(provider: str, base_url: str | None) -> Client:
    return Client(provider, base_url=base_url)


class _Failure(click.ClickException):
    """An error as one line on stderr, exit status 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"llmcore: error: {self.format_message()}", err=True)


class _Group(click.Group):
    """Turns every error of a command into one line and an exit status: an :class:`LlmError`
    (its redacted message), an ``OSError`` (a file that cannot be read or written), Ctrl-C
    (exit 130, quietly)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LlmError as exc:
            raise _Failure(f"{type(exc).__name__}: {exc}") from None
        except KeyboardInterrupt:
            raise click.exceptions.Exit(130) from None
        except OSError as exc:
            if isinstance(exc, BrokenPipeError):
                raise
            raise _Failure(redact(str(exc))) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="llmcore", prog_name="llmcore")
def cli() -> None:
    """llmcore: chat with, list and batch-run LLM providers through the installed plugins."""


@cli.command()
@click.argument("prompt", required=False)
@click.option("-m", "--model", required=True, help="The model name, sent as it is.")
@_provider_option()
@_base_url_option
@click.option("--system", default=None, help="A system message sent before the prompt.")
@click.option("--max-tokens", type=int, default=None, help="The answer's length limit.")
@click.option("--temperature", type=float, default=None)
def chat(
    prompt: str | None,
    model: str,
    provider: str,
    base_url: str | None,
    system: str | None,
    max_tokens: int | None,
    temperature: float | None,
) -> None:
    """Send PROMPT (or stdin when PROMPT is missing or '-') and stream the answer."""
    if prompt is None or prompt == "-":
        if sys.stdin.isatty() and prompt is None:
            raise click.UsageError("give a PROMPT argument or pipe the prompt on stdin")
        prompt = sys.stdin.read()
    if not prompt.strip():
        raise click.UsageError("the prompt is empty")
    messages = [Message.system(system)] if system else []
    messages.append(Message.user(prompt))
    request = ChatCompletionRequest(model, messages, max_tokens=max_tokens, temperature=temperature)
    with _client(provider, base_url) as client, client.chat_completion_stream(request) as stream:
        for chunk in stream:
            text = chunk.text()
            if text:
                click.echo(text, nl=False)
    click.echo()


@cli.command()
@_provider_option()
@_base_url_option
def models(provider: str, base_url: str | None) -> None:
    """List the provider's models, one id a line."""
    with _client(provider, base_url) as client:
        for model in client.list_models():
            click.echo(model.id)


@cli.command()
def providers() -> None:
    """List the installed plugins' providers and whether each one's API key is set."""
    plugins = get_plugins()
    found = plugins.providers()
    if not found:
        click.echo("no providers installed (pip install a plugin, e.g. ./plugins/llmcore-openai)")
    rows = []
    for name in sorted(found):
        provider = found[name]
        if not provider.key_required or provider.auth == "none":
            key = "no key needed"
        elif get_env_api_key(provider):
            key = f"key set ({' or '.join(provider.api_key_env)})"
        else:
            key = f"key missing ({' or '.join(provider.api_key_env) or 'pass api_key='})"
        rows.append((name, provider.distribution or "?", provider.api, key))
    width = [max([len(r[i]) for r in rows] + [0]) for i in range(3)]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width[i]) for i, cell in enumerate(row[:3])) + "  " + row[3]
        )
    for name, reason in sorted(plugins.failed.items()):
        click.echo(f"plugin {name} failed to load: {reason}", err=True)


class _ProgressLine:
    """A one-line progress display redrawn with ``\\r`` (only on a terminal)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.drawn = False

    def __call__(self, p: BatchProgress) -> None:
        width = 30
        filled = width if p.total == 0 else width * p.finished // p.total
        bar = "#" * filled + "-" * (width - filled)
        rate = p.finished / p.elapsed if p.elapsed > 0 else 0.0
        self.stream.write(
            f"\r[{bar}] {p.finished}/{p.total} failed {p.failed} skipped {p.skipped} "
            f"{rate:.1f}/s {p.elapsed:.0f}s"
        )
        self.stream.flush()
        self.drawn = True

    def end(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


@cli.command()
@click.argument("in_path", metavar="IN", type=click.Path(exists=True, dir_okay=False))
@click.argument("out_path", metavar="OUT", type=click.Path(dir_okay=False))
@_provider_option()
@_base_url_option
@click.option("-m", "--model", default=None, help="Replaces every request's model.")
@click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Requests in flight at once (default: the connection pool size).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Draw a progress line (default: when stderr is a terminal).",
)
def batch(
    in_path: str,
    out_path: str,
    provider: str,
    base_url: str | None,
    model: str | None,
    concurrency: int | None,
    progress: bool | None,
) -> None:
    """Run the batch file IN and append one result line per request to OUT (resumable)."""
    err = sys.stderr
    show = err.isatty() if progress is None else progress
    line = _ProgressLine(err) if show else None
    with _client(provider, base_url) as client:
        try:
            summary = run_file(
                in_path,
                out_path,
                client=client,
                model=model,
                concurrency=concurrency,
                progress=line,
            )
        finally:
            if line is not None:
                line.end()
    click.echo(
        f"done {summary.done}, failed {summary.failed}, skipped {summary.skipped}, "
        f"elapsed {summary.elapsed:.1f}s",
        err=True,
    )
    if summary.failed:
        sys.exit(1)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); exits the process."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="llmcore")
