"""Requests from files, lines or a table and a prompt (`intake.sources`): the options
`gembatch prepare` and `gembatch submit` share, and `prepare` itself, which writes the
JSONL `submit` would send, so it can be read and diffed first."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from gembatch import exit_codes
from gembatch.atomic import AtomicFile
from gembatch.cli.errors import CommandError, error
from gembatch.errors import BadInput

BUILD_FLAGS = ("prompt", "prompt_file", "lines", "csv")


def add_build_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "requests from files, lines or a table (instead of request JSONL)"
    )
    add = group.add_argument
    add("--prompt", metavar="TEXT", help="the prompt: with FILES, one request per file "
        "(text put in, PDFs, images, audio and video uploaded when created)")  # fmt: skip
    add("--prompt-file", type=Path, metavar="FILE", help="the prompt, read from FILE")
    add("--lines", type=Path, metavar="FILE", help="one request per non-empty line of FILE")
    add("--csv", type=Path, metavar="FILE", help="one request per row of a CSV file")
    add("--column", metavar="NAME", help="with --csv: the column holding each prompt")
    add("--template", metavar="TEXT", help="with --csv: each prompt, '{column}' filled per row")
    add("--key-column", metavar="NAME", help="with --csv: key rows by this column")
    add("--system", metavar="TEXT", help="a system instruction for every request")
    add("--schema", type=Path, metavar="FILE", help="a JSON schema: answers are JSON shaped by it")
    add("--temperature", type=float, metavar="T", help="generation temperature")
    add("--max-output-tokens", type=int, metavar="N", help="longest answer, in tokens")
    add("--name", metavar="NAME", help="the input's name: batch/NAME.jsonl (default: "
        "made from its content, so the same command finds the same input)")  # fmt: skip


def building(args: argparse.Namespace) -> bool:
    return any(getattr(args, flag, None) for flag in BUILD_FLAGS)


def build(args: argparse.Namespace, written_in: Path, files: list[Path]) -> Any:
    """The requests the options describe, with their `fileUri`s relative to
    `written_in`; one line (exit 4) when they cannot be made."""
    from gembatch.intake import sources

    _check_sources(args, files)
    recipe = sources.Recipe(_prompt(args), _shared(args))
    keys_from = Path(args.job_info).resolve().parent
    try:
        if args.csv:
            return sources.from_csv(args.csv, recipe, args.column, args.template, args.key_column)
        if args.lines:
            return sources.from_lines(args.lines, recipe)
        if not files:
            raise BadInput("name the files (or folders) to run the prompt over")
        missing = [str(f) for f in files if not f.exists()]
        if missing:
            raise BadInput(f"no such file: {', '.join(missing)}")
        return sources.from_files(files, recipe, written_in, keys_from)
    except BadInput as problem:
        raise CommandError(f"{problem}; nothing was written", exit_codes.EXIT_BAD_INPUT) from None


def _check_sources(args: argparse.Namespace, files: list[Path]) -> None:
    """One source of requests at a time, and no option that would be passed over
    (a usage error, exit 64: nothing is read or written)."""
    given = [name for name, on in (("FILES", files), ("--lines", args.lines),
                                   ("--csv", args.csv)) if on]  # fmt: skip
    if len(given) > 1:
        raise CommandError(
            f"{' and '.join(given)}: give one source of requests at a time", exit_codes.EXIT_USAGE
        )
    unused = [flag for flag, value in (("--column", args.column), ("--template", args.template),
              ("--key-column", args.key_column)) if value is not None and not args.csv]  # fmt: skip
    if unused:
        verb = "go" if len(unused) > 1 else "goes"
        raise CommandError(f"{', '.join(unused)} {verb} with --csv FILE", exit_codes.EXIT_USAGE)
    if args.prompt and args.prompt_file:
        raise CommandError("give --prompt or --prompt-file, not both", exit_codes.EXIT_USAGE)


def _prompt(args: argparse.Namespace) -> str | None:
    if args.prompt_file:
        try:
            return str(args.prompt_file.read_text(encoding="utf-8")).strip()
        except OSError as problem:
            raise CommandError(f"{args.prompt_file}: cannot be read ({problem.strerror})") from None
        except UnicodeDecodeError:
            raise CommandError(f"{args.prompt_file}: not UTF-8 text; save it as UTF-8") from None
    return str(args.prompt) if args.prompt else None


def _shared(args: argparse.Namespace) -> Any:
    from gembatch.intake.requests import Shared

    config: dict[str, Any] = {}
    if args.temperature is not None:
        config["temperature"] = args.temperature
    if args.max_output_tokens is not None:
        config["maxOutputTokens"] = args.max_output_tokens
    if args.schema:
        config["responseMimeType"] = "application/json"
        config["responseJsonSchema"] = _schema(args.schema)
    return Shared(system_instruction=args.system, generation_config=config)


def _schema(path: Path) -> Any:
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except OSError as problem:
        raise CommandError(f"{path}: cannot be read ({problem.strerror})") from None
    except ValueError as problem:  # (UnicodeDecodeError among them)
        raise CommandError(f"{path}: not a JSON schema ({problem})") from None
    if not isinstance(schema, dict):
        raise CommandError(f"{path}: a JSON schema is an object ({{...}}), not {schema!r:.40}")
    return schema


def say_left_out(built: Any) -> None:
    for line in built.left_out:
        error(f"{line}; left out")


def input_for_submit(args: argparse.Namespace, files: list[Path]) -> Path:
    """`submit --prompt …`: the requests written once to `batch/<name>.jsonl` beside
    the job file (the same bytes `prepare -o` that path writes); an input of that name
    made from other requests is never overwritten."""
    folder = Path(args.job_info).parent / "batch"
    built = build(args, folder, files)
    say_left_out(built)
    name = args.name or "prompt-" + hashlib.sha256(built.data).hexdigest()[:10]
    path = folder / f"{name}.jsonl"
    if path.is_file() and path.read_bytes() != built.data:
        raise CommandError(
            f"{path} exists with other requests; pass another --name",
            exit_codes.EXIT_BAD_INPUT,
        )
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        with AtomicFile(path) as handle:
            handle.write(built.data)
    print(f"{path}: {built.summary()}", flush=True)
    return path


def cmd_prepare(args: argparse.Namespace) -> int:
    if not building(args):
        raise CommandError("give --prompt with FILES, or --lines FILE, or --csv FILE")
    output: Path | None = None if str(args.output) == "-" else args.output
    built = build(
        args, (output or Path(".")).resolve().parent if output else Path.cwd(), args.files
    )
    say_left_out(built)
    if output is None:
        sys.stdout.buffer.write(built.data)
        sys.stdout.flush()
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        with AtomicFile(output) as handle:
            handle.write(built.data)
        print(f"{output}: {built.summary()}", file=sys.stderr)
    return exit_codes.EXIT_SOME_FAILED if built.left_out else exit_codes.EXIT_OK
